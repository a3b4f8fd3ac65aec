import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { readLinuxHostFacts } from "./host-facts.js";
import { HostFactsJson } from "../formats/profile.js";

function tree(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-facts-"));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), text);
  }
  return root;
}

describe("Linux host facts", () => {
  it("reads vulnerabilities, MIDR/REVIDR and the PSCI/SMCCC/KVM log lines", () => {
    const root = tree({
      "sys/devices/system/cpu/vulnerabilities/spectre_v2": "Mitigation: CSV2, BHB\n",
      "sys/devices/system/cpu/vulnerabilities/spec_store_bypass": "Vulnerable\n",
      "sys/devices/system/cpu/cpu0/regs/identification/midr_el1": "0x00000000410fd083\n",
      "sys/devices/system/cpu/cpu0/regs/identification/revidr_el1": "0x0000000000000000\n",
      "dev/kmsg": [
        "6,1,0,-;Booting Linux on physical CPU 0x0000000000 [0x410fd083]",
        "6,2,1000,-;psci: PSCIv1.1 detected in firmware.",
        " SUBSYSTEM=cpu",
        "6,3,2000,-;psci: SMC Calling Convention v1.2",
        "6,40,537318,-;kvm [1]: IPA Size Limit: 44 bits",
        "",
      ].join("\n"),
    });
    const facts = readLinuxHostFacts(root);
    assert.deepEqual(facts, {
      vulnerabilities: { spec_store_bypass: "Vulnerable", spectre_v2: "Mitigation: CSV2, BHB" },
      midr: 0x410fd083n,
      revidr: 0n,
      dmesg: [
        "psci: PSCIv1.1 detected in firmware.",
        "psci: SMC Calling Convention v1.2",
        "kvm [1]: IPA Size Limit: 44 bits",
      ],
    });
    assert.ok(HostFactsJson.safeEncode(facts).success);
  });

  it("gives nulls and the errno when the host shows nothing", () => {
    const facts = readLinuxHostFacts(tree({}));
    assert.deepEqual(facts, { vulnerabilities: {}, midr: null, revidr: null, dmesg: "ENOENT" });
  });
});
