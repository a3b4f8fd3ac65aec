/**
 * An ABI template as a Firecracker aarch64 custom CPU template (docs/cpu_templates/cpu-templates.md,
 * src/vmm/src/cpu_config/aarch64/custom_cpu_template.rs, docs/cpu_templates/schema.json):
 *
 *   {
 *     "kvm_capabilities": ["170"],
 *     "vcpu_features": [{ "index": 0, "bitmap": "0b0001001x" }],
 *     "reg_modifiers": [{ "addr": "0x603000000013c020", "bitmap": "0b0001...0010" }]
 *   }
 *
 * - reg_modifiers: `addr` is the KVM register id (KVM_SET_ONE_REG), `bitmap` is "0b" + one character
 *   per bit, most significant first: 0 clears, 1 sets, x keeps what KVM shows (a shorter bitmap is
 *   padded with x); Firecracker reads the register, applies the bitmap and writes it back before boot.
 *   The template's ID registers are written in full (64 characters), its PSCI version and hypercall
 *   bitmaps too. Left out, with a note: MIDR/REVIDR/AIDR (KVM refuses changes unless the VMM enabled
 *   KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which Firecracker does not: set_imp_id_reg), the
 *   WORKAROUND_1/2/3 levels (KVM only checks them, the guest always sees the kernel's level:
 *   kvm_arm_set_fw_reg) and SVE vector lengths (a U512 register; bitmaps hold at most 128 bits).
 * - vcpu_features: `index` is the word of kvm_vcpu_init.features[], `bitmap` that word's bits; the
 *   template's features are set, the other known features cleared, POWER_OFF (which Firecracker sets
 *   on secondary vCPUs itself) and unknown bits kept.
 * - kvm_capabilities: decimal KVM_CAP numbers Firecracker must find on the host: those the
 *   template's vCPU features need.
 * - the machine section (GICD_IIDR and ITS revisions, PMU counters, counter offset, SMCCC filter): no
 *   Firecracker knob; a note each (firecracker-machine.ts).
 */
import { formatId, nameOf } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { FW_REGS, KVM_CAP, VCPU_FEATURES } from "../kvm/index.js";
import type { AbiTemplate } from "../formats/template.js";
import { IMP_ID_REGS } from "../kvm/rules/id-regs.js";
import { firecrackerMachineNotes } from "./firecracker-machine.js";

export interface FirecrackerRegModifier {
  addr: string;
  bitmap: string;
}

export interface FirecrackerVcpuFeatures {
  index: number;
  bitmap: string;
}

export interface FirecrackerCpuTemplate {
  kvm_capabilities: string[];
  vcpu_features: FirecrackerVcpuFeatures[];
  reg_modifiers: FirecrackerRegModifier[];
}

export interface FirecrackerExport {
  template: FirecrackerCpuTemplate;
  /** What could not be expressed, one line each. */
  notes: string[];
}

/** A bitmap string of `width` characters: bits of `value` inside `mask` as 0/1, the rest x. */
export function firecrackerBitmap(width: number, value: bigint, mask: bigint, contract = false): string {
  let s = "";
  for (let b = width - 1; b >= 0; b--) {
    const bit = 1n << BigInt(b);
    s += mask & bit ? (value & bit ? "1" : "0") : "x";
  }
  if (contract) s = s.replace(/^x+/, "") || "x";
  return "0b" + s;
}

const WORKAROUNDS = new Set<RegId>([
  FW_REGS.SMCCC_ARCH_WORKAROUND_1,
  FW_REGS.SMCCC_ARCH_WORKAROUND_2,
  FW_REGS.SMCCC_ARCH_WORKAROUND_3,
]);
const ALL64 = (1n << 64n) - 1n;

/** The capabilities a vCPU feature needs (arm.c system_supported_vcpu_features). */
const FEATURE_CAPS: Partial<Record<number, number>> = {
  [VCPU_FEATURES.EL1_32BIT]: KVM_CAP.ARM_EL1_32BIT,
  [VCPU_FEATURES.PMU_V3]: KVM_CAP.ARM_PMU_V3,
  [VCPU_FEATURES.SVE]: KVM_CAP.ARM_SVE,
  [VCPU_FEATURES.PTRAUTH_ADDRESS]: KVM_CAP.ARM_PTRAUTH_ADDRESS,
  [VCPU_FEATURES.PTRAUTH_GENERIC]: KVM_CAP.ARM_PTRAUTH_GENERIC,
};

export function toFirecracker(t: AbiTemplate): FirecrackerExport {
  const notes: string[] = [];
  const sorted = (m: Map<RegId, bigint>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const reg_modifiers: FirecrackerRegModifier[] = [];
  for (const [id, value] of sorted(t.idRegs)) {
    const name = nameOf(id).name;
    if (IMP_ID_REGS.has(name)) {
      notes.push(
        `${name} left out: KVM refuses changing it without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (set_imp_id_reg)`,
      );
      continue;
    }
    reg_modifiers.push({ addr: formatId(id), bitmap: firecrackerBitmap(64, value, ALL64) });
  }
  for (const [id, value] of sorted(t.firmware)) {
    if (WORKAROUNDS.has(id)) {
      notes.push(
        `${nameOf(id).name} left out: KVM only checks it, the guest sees the kernel's level (kvm_arm_set_fw_reg)`,
      );
      continue;
    }
    reg_modifiers.push({ addr: formatId(id), bitmap: firecrackerBitmap(64, value, ALL64) });
  }
  if (t.sveVqs)
    notes.push(
      `SVE vector lengths (${t.sveVqs.map((q) => q * 128).join(", ")} bits) left out: KVM_REG_ARM64_SVE_VLS is U512, Firecracker bitmaps hold 128 bits`,
    );
  notes.push(...firecrackerMachineNotes(t.machine));

  // kvm_vcpu_init.features[], word by word.
  const known = Object.values(VCPU_FEATURES).filter((b) => b !== VCPU_FEATURES.POWER_OFF);
  const words = new Map<number, { value: bigint; mask: bigint }>();
  const word = (bit: number) => {
    const w = words.get(bit >> 5) ?? { value: 0n, mask: 0n };
    words.set(bit >> 5, w);
    return w;
  };
  for (const b of known) word(b).mask |= 1n << BigInt(b & 31);
  for (const b of t.features) {
    if (b === VCPU_FEATURES.POWER_OFF) continue;
    const w = word(b);
    w.mask |= 1n << BigInt(b & 31);
    w.value |= 1n << BigInt(b & 31);
  }
  const vcpu_features = [...words]
    .sort(([a], [b]) => a - b)
    .map(([index, w]) => ({ index, bitmap: firecrackerBitmap(32, w.value, w.mask, true) }));

  const kvm_capabilities = [...new Set(t.features.map((f) => FEATURE_CAPS[f]).filter((c) => c !== undefined))]
    .sort((a, b) => a - b)
    .map(String);
  return { template: { kvm_capabilities, vcpu_features, reg_modifiers }, notes };
}

/** The JSON text Firecracker reads (PUT /cpu-config, or --cpu-template-file style tools). */
export function formatFirecracker(t: FirecrackerCpuTemplate): string {
  return JSON.stringify(t, null, 2) + "\n";
}
