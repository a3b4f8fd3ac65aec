import assert from "node:assert/strict";
import { test } from "node:test";
import { openSimKvm } from "../kvm/sim/index.js";
import { abiFingerprint, fingerprintDiff, otherConduitDiff } from "./guest-abi.js";

const sim = (generation: "6.1" | "7.2") => openSimKvm({ generation, cpu: "cortex-a72" });

test("fingerprintDiff compares the guest views over one conduit; otherConduitDiff the calls apart", () => {
  const a = abiFingerprint(sim("7.2"), "host-defaults");
  const b = abiFingerprint(sim("6.1"), "host-defaults");
  assert.ok(fingerprintDiff(a, b).every(([x]) => !x.includes("via smc")));
  assert.deepEqual(otherConduitDiff(a, b), [
    ["PSCI_VERSION via smc: 0x10003 0x0 0x0 0x0", "PSCI_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0"],
    ["SMCCC_VERSION via smc: 0x10001 0x0 0x0 0x0", "SMCCC_VERSION via smc: 0xffffffffffffffff 0x0 0x0 0x0"],
  ]);
  const overSmc = abiFingerprint(sim("6.1"), "host-defaults", undefined, undefined, "smc");
  assert.throws(() => fingerprintDiff(a, overSmc), {
    name: "RangeError",
    message: "fingerprints over different conduits (hvc, smc) do not compare",
  });
});
