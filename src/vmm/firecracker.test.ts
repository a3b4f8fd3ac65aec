import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import { sysregId } from "../regs/index.js";
import type { FirecrackerCpuTemplate } from "./firecracker.js";
import { firecrackerBitmap, formatFirecracker, toFirecracker } from "./firecracker.js";
import type { AbiTemplate } from "../formats/template.js";

const PFR0 = sysregId(3, 0, 0, 4, 0);
const MIDR = sysregId(3, 0, 0, 0, 0);

/**
 * Firecracker's custom CPU template rules for aarch64 (custom_cpu_template.rs CustomCpuTemplate with
 * deny_unknown_fields; RegisterValueFilter strings "0b" + [01x_], up to the register's width, 128 for
 * U128; vcpu_features bitmaps are u32 words; kvm_capabilities "N" or "!N"), as a checker for shapes.
 */
function firecrackerProblems(doc: unknown): string[] {
  const out: string[] = [];
  if (typeof doc !== "object" || doc === null) return ["not an object"];
  for (const k of Object.keys(doc))
    if (!["kvm_capabilities", "vcpu_features", "reg_modifiers"].includes(k)) out.push(`unknown field ${k}`);
  const d = doc as Record<string, unknown>;
  const bitmapOk = (s: unknown, width: number) =>
    typeof s === "string" && /^0b[01x_]+$/.test(s) && s.slice(2).replace(/_/g, "").length <= width;
  for (const c of (d.kvm_capabilities as unknown[] | undefined) ?? [])
    if (typeof c !== "string" || !/^!?\d+$/.test(c)) out.push(`bad capability ${String(c)}`);
  for (const f of (d.vcpu_features as { index?: unknown; bitmap?: unknown }[] | undefined) ?? []) {
    if (!Number.isInteger(f.index) || (f.index as number) < 0 || (f.index as number) > 6)
      out.push("bad index");
    if (!bitmapOk(f.bitmap, 32)) out.push(`bad feature bitmap ${String(f.bitmap)}`);
  }
  for (const m of (d.reg_modifiers as { addr?: unknown; bitmap?: unknown }[] | undefined) ?? []) {
    if (typeof m.addr !== "string" || !/^(0x[0-9a-fA-F]+|0b[01]+|\d+)$/.test(m.addr)) {
      out.push(`bad addr ${String(m.addr)}`);
      continue;
    }
    const size = 1 << Number((BigInt(m.addr) >> 52n) & 0xfn); // KVM_REG_SIZE
    if (![4, 8, 16].includes(size)) out.push(`${m.addr}: only 32, 64 and 128 bit registers`);
    if (!bitmapOk(m.bitmap, size * 8)) out.push(`${m.addr}: bad bitmap ${String(m.bitmap)}`);
  }
  return out;
}

describe("Firecracker export", () => {
  it("the documentation's ARM example passes the shape checker", () => {
    // docs/cpu_templates/cpu-templates.md, "An example of configuring a custom CPU template on ARM".
    const docSample = {
      kvm_capabilities: ["171", "172"],
      vcpu_features: [{ index: 0, bitmap: "0b1100000" }],
      reg_modifiers: [
        {
          addr: "0x603000000013c020",
          bitmap: "0bxxxxxxxxxxxx0000xxxxxxxxxxxx0000xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        },
      ],
    };
    assert.deepEqual(firecrackerProblems(docSample), []);
    assert.deepEqual(firecrackerProblems({ ...docSample, cpuid_modifiers: [] }), [
      "unknown field cpuid_modifiers",
    ]);
    // The same register modifier from guestabi's bitmap writer: clear DIT (51:48) and SVE (35:32).
    assert.equal(
      firecrackerBitmap(64, 0n, (0xfn << 48n) | (0xfn << 32n)),
      docSample.reg_modifiers[0]!.bitmap,
    );
    // ...and the doc's feature word: PTRAUTH_ADDRESS (5) and PTRAUTH_GENERIC (6) set, bits 4..0 cleared.
    assert.equal(firecrackerBitmap(32, 0b1100000n, 0b1111111n, true), "0b1100000");
  });

  it("writes a template's ID registers, PSCI version, bitmaps and features", () => {
    const t: AbiTemplate = {
      idRegs: new Map([
        [PFR0, 0x1100000011110112n],
        [MIDR, 0x410fd0c1n],
      ]),
      firmware: new Map([
        [FW_REGS.PSCI_VERSION, 0x10001n],
        [FW_REGS.SMCCC_ARCH_WORKAROUND_1, 2n],
        [FW_REGS.STD_HYP_BMAP, 1n],
      ]),
      features: [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3],
      regs: new Set([
        PFR0,
        MIDR,
        FW_REGS.PSCI_VERSION,
        FW_REGS.SMCCC_ARCH_WORKAROUND_1,
        FW_REGS.STD_HYP_BMAP,
      ]),
      provenance: { derivedFrom: [] },
    };
    const { template, notes } = toFirecracker(t);
    const expected: FirecrackerCpuTemplate = {
      kvm_capabilities: ["126"],
      vcpu_features: [{ index: 0, bitmap: "0b00000110x" }],
      reg_modifiers: [
        {
          addr: "0x603000000013c020",
          bitmap: "0b0001000100000000000000000000000000010001000100010000000100010010",
        },
        {
          addr: "0x6030000000140000",
          bitmap: "0b0000000000000000000000000000000000000000000000010000000000000001",
        },
        {
          addr: "0x6030000000160001",
          bitmap: "0b0000000000000000000000000000000000000000000000000000000000000001",
        },
      ],
    };
    assert.deepEqual(template, expected);
    assert.deepEqual(notes, [
      "MIDR_EL1 left out: KVM refuses changing it without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg)",
      "KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1 left out: KVM only checks it, the guest sees the kernel's level (kvm_arm_set_fw_reg)",
    ]);
    const text = formatFirecracker(template);
    assert.deepEqual(firecrackerProblems(JSON.parse(text)), []);
    assert.ok(text.endsWith("}\n"));
  });

  it("SVE and pointer authentication: capabilities to check, vector lengths noted", () => {
    const t: AbiTemplate = {
      idRegs: new Map(),
      firmware: new Map(),
      features: [
        VCPU_FEATURES.PSCI_0_2,
        VCPU_FEATURES.SVE,
        VCPU_FEATURES.PTRAUTH_ADDRESS,
        VCPU_FEATURES.PTRAUTH_GENERIC,
      ],
      sveVqs: [1, 2],
      regs: new Set(),
      provenance: { derivedFrom: [] },
    };
    const { template, notes } = toFirecracker(t);
    assert.deepEqual(template.kvm_capabilities, ["170", "171", "172"]);
    assert.deepEqual(template.vcpu_features, [{ index: 0, bitmap: "0b00111010x" }]);
    assert.deepEqual(notes, [
      "SVE vector lengths (128, 256 bits) left out: KVM_REG_ARM64_SVE_VLS is U512, Firecracker bitmaps hold 128 bits",
    ]);
  });

  it("machine pins: a note each, none in the CPU template (Firecracker has no knob for them)", () => {
    const plain: AbiTemplate = {
      idRegs: new Map(),
      firmware: new Map(),
      features: [VCPU_FEATURES.PSCI_0_2],
      regs: new Set(),
      provenance: { derivedFrom: [] },
    };
    const t: AbiTemplate = {
      ...plain,
      machine: {
        gicdIidrRevision: 2,
        itsAbi: 0,
        pmuCounters: 6,
        counterOffset: 0x1000n,
        smcccFilter: [{ base: 0x84000000, nrFunctions: 1, action: "DENY" }],
      },
    };
    const { template, notes } = toFirecracker(t);
    assert.deepEqual(template, toFirecracker(plain).template);
    assert.deepEqual(notes, [
      "GICD_IIDR revision 2 left out: Firecracker has no knob and neither saves nor writes GICD_IIDR (gic/gicv3/regs/dist_regs.rs), so the guest sees the host kernel's default revision",
      "ITS table ABI 0 left out: no knob at boot; Firecracker snapshots save GITS_IIDR and restore it before the ITS tables (gic/gicv3/regs/its_regs.rs), so a restored VM keeps its ABI",
      "PMU counters 6 left out: Firecracker has no PMU (arch/aarch64/vcpu.rs refuses KVM_ARM_VCPU_PMU_V3)",
      "counter offset 0x1000 left out: Firecracker never calls KVM_ARM_SET_COUNTER_OFFSET (with KVM_CAP_COUNTER_OFFSET it only zeroes KVM_REG_ARM_PTIMER_CNT at boot: arch/aarch64/vcpu.rs, kvm.rs)",
      "SMCCC filter (1 range) left out: Firecracker sets no KVM_ARM_VM_SMCCC_FILTER, so KVM answers every hypercall itself",
    ]);
    assert.deepEqual(toFirecracker(plain).notes, []);
  });
});
