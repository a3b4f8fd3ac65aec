import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { SimSystem, guestAbiFingerprint } from "./index.js";

const sha256 = (lines: readonly string[]) =>
  createHash("sha256")
    .update(lines.join("\n") + "\n")
    .digest("hex");

test("the guest view is taken over the VMM's conduit (HVC by default); the other conduit's calls are apart, unhashed", () => {
  const hvc = guestAbiFingerprint(new SimSystem({ generation: "6.1", cpu: "cortex-a72" }));
  assert.equal(hvc.conduit, "hvc");
  assert.deepEqual(hvc.otherConduit, {
    conduit: "smc",
    // 6.1 answers SMC #0 with -1 (handle_smc)
    lines: [
      "PSCI_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0",
      "SMCCC_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0",
    ],
  });
  assert.ok(!hvc.lines.some((l) => l.includes("via smc")));
  assert.ok(hvc.lines.includes("PSCI_VERSION: 0x10001 0x0 0x0 0x0"));
  assert.equal(hvc.lines.at(-1), "end: system-event");
  assert.equal(hvc.sha256, sha256(hvc.lines));

  // A VMM whose tables say SMC: the SMC calls are the guest view, the HVC ones apart.
  const smc = guestAbiFingerprint(new SimSystem({ generation: "6.1", cpu: "cortex-a72" }), [2], {}, "smc");
  assert.equal(smc.conduit, "smc");
  assert.equal(smc.otherConduit.conduit, "hvc");
  assert.ok(smc.lines.includes("PSCI_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0"));
  assert.ok(smc.otherConduit.lines.includes("PSCI_VERSION: 0x10001 0x0 0x0 0x0"));
  assert.equal(
    smc.lines.length + smc.otherConduit.lines.length,
    hvc.lines.length + hvc.otherConduit.lines.length,
  );
  assert.notEqual(smc.sha256, hvc.sha256);
});

test("6.12 runs SMC #0 as an SMCCC call (6.1 answers -1): recorded apart, as the SMC answers are", () => {
  const on612 = guestAbiFingerprint(new SimSystem({ generation: "6.12", cpu: "cortex-a72" }));
  assert.deepEqual(on612.otherConduit.lines, [
    "PSCI_VERSION via smc: 0x10001 0x0 0x0 0x0",
    "SMCCC_VERSION via smc: 0x10001 0x0 0x0 0x0",
  ]);
});
