import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS } from "../kvm/index.js";
import { sysregId } from "../regs/index.js";
import { SVE_VLS_ID } from "../formats/snapshot.js";
import { writeOrder, writePhase } from "./write-order.js";

const PFR0 = sysregId(3, 0, 0, 4, 0);
const MIDR = sysregId(3, 0, 0, 0, 0);
const CTR = sysregId(3, 3, 0, 0, 1);
const SCTLR = sysregId(3, 0, 1, 0, 0);
const X0 = 0x6030000000100000n;

describe("write order", () => {
  it("puts ID registers first, then firmware, bitmaps, VLS, and the rest ascending", () => {
    assert.equal(writePhase(PFR0), "id");
    assert.equal(writePhase(CTR), "id"); // op1 3, CRn 0: is_feature_id_reg
    assert.equal(writePhase(SCTLR), "other");
    assert.equal(writePhase(FW_REGS.PSCI_VERSION), "firmware");
    assert.equal(writePhase(FW_REGS.STD_BMAP), "bitmap");
    assert.equal(writePhase(SVE_VLS_ID), "vls");
    assert.deepEqual(
      writeOrder([X0, SVE_VLS_ID, FW_REGS.STD_BMAP, SCTLR, FW_REGS.PSCI_VERSION, PFR0, MIDR]),
      [MIDR, PFR0, FW_REGS.PSCI_VERSION, FW_REGS.STD_BMAP, SVE_VLS_ID, X0, SCTLR],
    );
  });
});
