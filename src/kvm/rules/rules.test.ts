import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { FtrPolicy } from "../../regs/catalog-types.js";
import { ftrPolicies } from "../../regs/catalog.js";
import { GENERATIONS } from "../kernels/generations.js";
import {
  CCSIDR_RES0_MASK,
  ccsidrMinLine,
  ccsidrScope,
  clidrImpliesIdc,
  clidrImplements,
  guestCtrTrapped,
  setCcsidrAccepts,
  setClidrAccepts,
} from "./cache.js";
import { bitmapAccepted, psciVersionsAccepted, wa2Accepted, wa2Level, waAccepted } from "./firmware.js";
import { FTR_TYPE_CODE, checkFeatures, checkedFields, ftrAccepts, ftrSafe } from "./id-fields.js";
import {
  IMP_ID_REGS,
  IMP_ID_REG_IDS,
  INVARIANT_ID_REGS,
  pfr0CsvAccepted,
  pfr0CsvFields,
  setImpIdAccepts,
} from "./id-regs.js";
import { kvmTargetCpu, vcpuFeatureKnown, vcpuTargetAccepted } from "./vcpu-init.js";

const [g510, g61, g612, g72] = [
  GENERATIONS["5.10"],
  GENERATIONS["6.1"],
  GENERATIONS["6.12"],
  GENERATIONS["7.2"],
];

const pol = (
  field: string,
  shift: number,
  type: FtrPolicy["type"],
  signed = false,
  safe = 0n,
): FtrPolicy => ({
  field,
  shift,
  width: 4,
  signed,
  type,
  safe,
  visible: true,
  strict: false,
});

test("arm64_ftr_safe_value: each ftr type", () => {
  const { exact, lowerSafe, higherSafe, higherOrZeroSafe } = FTR_TYPE_CODE;
  assert.ok(
    ftrAccepts(lowerSafe, 0, 1, 2) && !ftrAccepts(lowerSafe, 0, 3, 2) && ftrAccepts(lowerSafe, 0, 2, 2),
  );
  assert.ok(ftrAccepts(higherSafe, 0, 3, 2) && !ftrAccepts(higherSafe, 0, 1, 2));
  assert.ok(ftrAccepts(exact, 1, 1, 2) && !ftrAccepts(exact, 1, 0, 2));
  assert.ok(ftrAccepts(higherOrZeroSafe, 0, 0, 2) && ftrAccepts(higherOrZeroSafe, 0, 3, 2));
  assert.ok(!ftrAccepts(higherOrZeroSafe, 0, 1, 2) && !ftrAccepts(higherOrZeroSafe, 0, 3, 0));
  assert.equal(ftrSafe(pol("X", 0, "exact", true, 0xfn)), -1);
  assert.equal(ftrSafe(pol("X", 0, "exact", false, 0xfn)), 15);
});

test("arm64_check_features: policy fields inside the writable mask, every other bit equal", () => {
  const p = [pol("A", 0, "lowerSafe"), pol("B", 4, "higherSafe"), pol("S", 8, "lowerSafe", true)];
  const w = 0xffn; // A and B writable, S not
  assert.deepEqual(
    checkedFields(p, w).fields.map((f) => f.policy.field),
    ["A", "B"],
  );
  assert.equal(checkedFields(p, w).fixed, 0xffffffffffffff00n);
  assert.equal(checkFeatures(p, 0x31n, 0x22n, w, false), "ok"); // A 1 <= 2, B 3 >= 2
  assert.equal(checkFeatures(p, 0x23n, 0x22n, w, false), "E2BIG"); // A 3 > 2
  assert.equal(checkFeatures(p, 0x122n, 0x22n, w, false), "E2BIG"); // S outside the mask differs
  assert.equal(checkFeatures(undefined, 0n, 0n, w, false), "EINVAL");
  assert.equal(checkFeatures(p, 0n, 5n, w, true), "ok");
  assert.equal(checkFeatures(p, 1n, 0n, w, true), "E2BIG");
});

test("arm64_check_features on the 7.2 catalog's ID_AA64MMFR0_EL1 (signed and exact fields): field by field, and the limit itself always ok", () => {
  const policies = ftrPolicies("7.2", "ID_AA64MMFR0_EL1")!;
  const u64 = fc.bigInt({ min: 0n, max: 0xffffffffffffffffn });
  // The definition, field by field on bigints (what the compiled form must keep).
  const byDefinition = (val: bigint, limit: bigint, writable: bigint): "ok" | "E2BIG" => {
    const field = (p: FtrPolicy, v: bigint) => {
      const raw = (v >> BigInt(p.shift)) & ((1n << BigInt(p.width)) - 1n);
      return Number(p.signed ? BigInt.asIntN(p.width, raw) : raw);
    };
    const { fields, fixed } = checkedFields(policies, writable);
    const fieldsOk = fields.every(({ policy: p }) =>
      ftrAccepts(FTR_TYPE_CODE[p.type], ftrSafe(p), field(p, val), field(p, limit)),
    );
    return fieldsOk && (val & fixed) === (limit & fixed) ? "ok" : "E2BIG";
  };
  fc.assert(
    fc.property(u64, u64, u64, fc.nat(15), fc.nat(15), (val, limit, writable, nibble, to) => {
      // Also the limit with one nibble changed, so that accepted values and signed fields come up.
      const shift = BigInt(4 * nibble);
      const oneField = (limit & ~(0xfn << shift)) | (BigInt(to) << shift);
      for (const v of [val, oneField])
        assert.equal(checkFeatures(policies, v, limit, writable, false), byDefinition(v, limit, writable));
      assert.equal(checkFeatures(policies, limit, limit, writable, false), "ok");
    }),
    { numRuns: 2000 },
  );
});

test("kvm_arm_set_fw_reg: PSCI versions, workaround levels, bitmaps", () => {
  assert.deepEqual(psciVersionsAccepted(g510, true), [0x2n, 0x10000n]);
  assert.deepEqual(psciVersionsAccepted(g72, false), [0x1n]);
  assert.ok(waAccepted(1, 0, 2) && !waAccepted(2, 0, 1) && !waAccepted(0x11, 0, 2) && !waAccepted(0, 1, 2));
  assert.deepEqual(
    [0, 1, 2, 3, 4, 0x12, 0x13, 0x20].map((v) => wa2Level(v, 0)),
    [0, 0, 3, 3, -1, 3, -1, -1],
  );
  assert.equal(wa2Level(0, 1), -1);
  assert.ok(wa2Accepted(1, 0, 0) && wa2Accepted(2, 0, 3) && !wa2Accepted(2, 0, 0) && !wa2Accepted(4, 0, 3));
  assert.ok(bitmapAccepted(0b01, 0, 0b11) && !bitmapAccepted(0b100, 0, 0b11) && !bitmapAccepted(0, 1, 0b11));
  assert.ok(bitmapAccepted(0x80000000, 0, 0xffffffff));
});

test("set_clidr, set_ccsidr, is_valid_cache", () => {
  const clidr = 0x0a200023n; // L1 separate, L2 unified (ctype 4), LoUIS 1, LoC 2
  assert.ok(clidrImplements(clidr, 0) && clidrImplements(clidr, 1) && clidrImplements(clidr, 2));
  assert.ok(!clidrImplements(clidr, 3) && !clidrImplements(clidr, 4) && !clidrImplements(clidr, 14));
  assert.ok(!clidrImpliesIdc(Number(clidr)) && clidrImpliesIdc(0x23));
  const all = 0xffffffff;
  assert.ok(setClidrAccepts(Number(clidr), 0, all, 0x7fff, false));
  assert.ok(!setClidrAccepts(Number(clidr), 0x8000, all, 0x7fff, true)); // RES0 bit 47
  assert.ok(!setClidrAccepts(0x23, 0, all, 0x7fff, false) && setClidrAccepts(0x23, 0, all, 0x7fff, true));
  assert.equal(ccsidrMinLine(1, 4, 2), 6);
  assert.equal(ccsidrMinLine(0, 4, 2), 4);
  assert.ok(setCcsidrAccepts(2, 0, 6) && !setCcsidrAccepts(1, 0, 6));
  assert.equal(CCSIDR_RES0_MASK & 0x7n, 0n);
  assert.deepEqual([g510, g61, g612, g72].map(ccsidrScope), ["vm", "vm", "vcpu", "vcpu"]);
});

test("ID register writes outside arm64_check_features", () => {
  assert.deepEqual([g510, g61, g612, g72].map(pfr0CsvFields), [
    ["CSV2"],
    ["CSV2", "CSV3"],
    ["CSV2", "CSV3"],
    ["CSV2", "CSV3"],
  ]);
  assert.ok(
    pfr0CsvAccepted(0, 1) && pfr0CsvAccepted(1, 1) && !pfr0CsvAccepted(1, 0) && !pfr0CsvAccepted(2, 2),
  );
  assert.ok(IMP_ID_REGS.has("MIDR_EL1") && !IMP_ID_REGS.has("CTR_EL0") && INVARIANT_ID_REGS.has("CTR_EL0"));
  assert.deepEqual([...IMP_ID_REG_IDS], [0x603000000013c000n, 0x603000000013c006n, 0x603000000013c807n]);
  assert.ok(setImpIdAccepts(0x410fd0c0, 0, 0xffffffff, 0) && !setImpIdAccepts(0, 1, 0xffffffff, 0));
});

test("KVM_ARM_VCPU_INIT: features and targets", () => {
  assert.deepEqual(
    [g510, g61, g612, g72].map((m) => [6, 7, 8].map((b) => vcpuFeatureKnown(m, b))),
    [
      [true, false, false],
      [true, false, false],
      [true, true, false],
      [true, true, true],
    ],
  );
  assert.equal(kvmTargetCpu(0x410fd070n), 2); // Cortex-A57
  assert.equal(kvmTargetCpu(0x413fd0c1n), 5); // Neoverse N1: GENERIC_V8
  assert.equal(kvmTargetCpu(0n), 5);
  assert.ok(vcpuTargetAccepted(g61, 2, 2) && !vcpuTargetAccepted(g61, 5, 2));
  assert.ok(
    vcpuTargetAccepted(g612, 5, 2) && vcpuTargetAccepted(g612, 2, 2) && !vcpuTargetAccepted(g612, 4, 2),
  );
});

test("guestCtrTrapped: <= 6.2 traps CTR_EL0 only for a 32-bit EL1 vCPU; 6.3+ unless FEAT_EVT and the sanitised value", () => {
  const all = (trap: "tid2" | "tid4WithEvt") =>
    [false, true].flatMap((el1_32bit) =>
      [false, true].flatMap((hostHasEvt) =>
        [false, true].map((vmCtrIsHostSanitised) =>
          guestCtrTrapped(trap, { el1_32bit, hostHasEvt, vmCtrIsHostSanitised }) ? 1 : 0,
        ),
      ),
    );
  // order: el1_32bit, hostHasEvt, vmCtrIsHostSanitised, each false then true
  assert.deepEqual(all("tid2"), [0, 0, 0, 0, 1, 1, 1, 1]);
  assert.deepEqual(all("tid4WithEvt"), [1, 1, 1, 0, 1, 1, 1, 0]);
});
