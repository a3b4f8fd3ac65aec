import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { sysregId } from "../regs/index.js";
import { compareReadBack } from "./read-back.js";

const PFR0 = sysregId(3, 0, 0, 4, 0);
const TIMER_CNT = 0x603000000013df1an;

describe("read-back", () => {
  it("compares read-backs: WORKAROUND levels are adjusted, counters time-varying, the rest exact", () => {
    assert.equal(compareReadBack(PFR0, 1n, 1n), "ok");
    assert.equal(compareReadBack(PFR0, 1n, 2n), "mismatch");
    assert.equal(compareReadBack(FW_REGS.SMCCC_ARCH_WORKAROUND_1, 1n, 2n), "adjusted");
    assert.equal(compareReadBack(FW_REGS.PSCI_VERSION, 0x10001n, 0x10003n), "mismatch");
    assert.equal(compareReadBack(TIMER_CNT, 5n, 9n), "time-varying");
    // set_pmcr (6.7+) drops IMP and IDCODE from userspace: a 6.1 VM's 0x410230ac reads 0x30ac on 7.2
    const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);
    assert.equal(compareReadBack(PMCR_EL0, 0x410230acn, 0x30acn), "adjusted");
    assert.equal(compareReadBack(PMCR_EL0, 0x410230acn, 0x410228acn), "mismatch"); // N 6 -> 5
    const a: RegValue = new Uint8Array(16).fill(1);
    assert.equal(compareReadBack(0x6040000000100054n, a, Uint8Array.from(a)), "ok");
  });
});
