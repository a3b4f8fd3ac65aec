import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  DUMP_EXCLUDED,
  FirecrackerFileError,
  parseBitmap,
  readFirecrackerEvidence,
} from "./firecracker-evidence.js";
import { FINGERPRINT_FIXTURES } from "./testing/firecracker-fixtures.js";

const PSCI_VERSION = 0x6030000000140000n;

describe("Firecracker fingerprints and templates", () => {
  it("reads the nine public fingerprints: kernel, register count, PSCI version, no excluded id", () => {
    const seen = FINGERPRINT_FIXTURES.map((f) => {
      const e = readFirecrackerEvidence(f.text, f.file);
      assert.equal(e.kind, "fingerprint");
      assert.equal(e.complete, true);
      for (const id of DUMP_EXCLUDED) assert.ok(!e.regs.some((r) => r.id === id), f.file);
      const psci = e.regs.find((r) => r.id === PSCI_VERSION);
      return `${f.cpu} ${e.host?.kernelRelease} ${e.regs.length} psci=0x${psci?.value.toString(16)}`;
    });
    assert.deepEqual(seen, [
      "N1 5.10.255-253.1008.amzn2.aarch64 312 psci=0x10000",
      "N1 6.1.172-216.329.amzn2023.aarch64 242 psci=0x10001",
      "N1 6.18.30-61.116.amzn2023.aarch64 254 psci=0x10003",
      "V1 5.10.255-253.1008.amzn2.aarch64 312 psci=0x10000",
      "V1 6.1.172-216.329.amzn2023.aarch64 242 psci=0x10001",
      "V1 6.18.30-61.116.amzn2023.aarch64 254 psci=0x10003",
      "V2 5.10.255-253.1008.amzn2.aarch64 312 psci=0x10000",
      "V2 6.1.172-216.329.amzn2023.aarch64 242 psci=0x10001",
      "V2 6.18.30-61.116.amzn2023.aarch64 254 psci=0x10003",
    ]);
  });

  it("parses bitmaps as Firecracker's RegisterValueFilter does", () => {
    assert.deepEqual(parseBitmap("0b0101xxxx", 8), { value: 0x50n, mask: 0xf0n, width: 8 });
    assert.deepEqual(parseBitmap("0b0_101_xx_xx", 8), { value: 0x50n, mask: 0xf0n, width: 8 });
    assert.equal(parseBitmap("0b0000_0000_0", 8), "longer than 8 bits");
    assert.equal(parseBitmap("0b0_x21", 8), "unknown character '2'");
  });

  it("reads a hand-written template, x bits outside the mask", () => {
    const e = readFirecrackerEvidence(
      JSON.stringify({
        kvm_capabilities: ["170", "!126"],
        vcpu_features: [{ index: 0, bitmap: "0b1x" }],
        reg_modifiers: [{ addr: "0x603000000013c020", bitmap: "0bxxxx0001" }],
      }),
      "t.json",
    );
    assert.equal(e.kind, "template");
    assert.equal(e.complete, false);
    assert.deepEqual(e.kvmCapabilities, [
      { cap: 170, remove: false },
      { cap: 126, remove: true },
    ]);
    assert.deepEqual(e.regs, [{ id: 0x603000000013c020n, value: 1n, mask: 0xfn, width: 8 }]);
  });

  it("refuses bad files with one line naming the place", () => {
    const bad = (doc: unknown) => {
      try {
        readFirecrackerEvidence(typeof doc === "string" ? doc : JSON.stringify(doc), "f.json");
      } catch (e) {
        assert.ok(e instanceof FirecrackerFileError);
        assert.ok(!e.message.includes("\n"));
        return e.message;
      }
      assert.fail("accepted");
    };
    assert.match(bad("{"), /^f\.json: not JSON \(/);
    assert.equal(
      bad({ reg_modifiers: [{ addr: "0x7030000000130000", bitmap: "0b1" }] }),
      "f.json: reg_modifiers[0].addr: 0x7030000000130000 is not a register id (architecture field is not KVM_REG_ARM64)",
    );
    assert.equal(
      bad({ reg_modifiers: [{ addr: "0x60200000001000d4", bitmap: "0b1" + "0".repeat(32) }] }),
      "f.json: reg_modifiers[0].bitmap: sets bits above the register's 32",
    );
    assert.match(
      bad({ reg_modifiers: [], extra: 1 }),
      /^f\.json: not a Firecracker CPU template or fingerprint: /,
    );
  });
});
