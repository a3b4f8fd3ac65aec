/**
 * The machine part of an ABI template: guest-visible state that lives outside ONE_REG and that a VMM
 * pins beside the registers, through device attributes and VM ioctls — the vGICv3's GICD_IIDR revision,
 * the ITS table ABI (GITS_IIDR revision), the PMU's counter count (PMCR_EL0.N), the VM counter offset
 * and the SMCCC filter ranges. Each item is optional: absent means the template does not fix it.
 */
import { z } from "zod";
import { SMCCC_FILTER_ACTIONS } from "../kvm/uapi.js";
import type { SmcccFilterAction } from "../kvm/uapi.js";

/** KVM_SMCCC_FILTER_HANDLE / _DENY / _FWD_TO_USER by name (uapi struct kvm_smccc_filter.action). */
const FILTER_ACTION_NAMES = Object.keys(SMCCC_FILTER_ACTIONS) as [SmcccFilterAction, ...SmcccFilterAction[]];

/** One struct kvm_smccc_filter range: function ids base .. base + nrFunctions - 1. */
export interface SmcccFilterRange {
  base: number;
  nrFunctions: number;
  action: SmcccFilterAction;
}

export interface MachinePins {
  /** GICD_IIDR.Revision the VMM writes (KVM_DEV_ARM_VGIC_GRP_DIST_REGS, vgic_mmio_uaccess_write_v3_misc). */
  gicdIidrRevision?: number;
  /** GITS_IIDR.Revision, the ITS table ABI (KVM_DEV_ARM_VGIC_GRP_ITS_REGS, vgic_its_set_abi). */
  itsAbi?: number;
  /** PMCR_EL0.N, the PMU's event counters (ONE_REG PMCR_EL0 or KVM_ARM_VCPU_PMU_V3_SET_NR_COUNTERS). */
  pmuCounters?: number;
  /** struct kvm_arm_counter_offset.counter_offset (KVM_ARM_SET_COUNTER_OFFSET). */
  counterOffset?: bigint;
  /** KVM_ARM_VM_SMCCC_FILTER ranges, in the order the VMM sets them. */
  smcccFilter?: SmcccFilterRange[];
}

/** The items of MachinePins, in the order reports list them. */
export const MACHINE_ITEMS = [
  "gicdIidrRevision",
  "itsAbi",
  "pmuCounters",
  "counterOffset",
  "smcccFilter",
] as const satisfies readonly (keyof MachinePins)[];

const MAX_FILTER_RANGES = 64;
const U32_MAX = 0xffff_ffff;

/** The first inconsistency of a machine section, or undefined. */
export function machinePinsProblem(m: MachinePins): string | undefined {
  const nibble = (name: string, v: unknown): string | undefined =>
    v === undefined || (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 15)
      ? undefined
      : `${name} must be an integer 0..15 (a 4-bit IIDR revision)`;
  const bad = nibble("gicdIidrRevision", m.gicdIidrRevision) ?? nibble("itsAbi", m.itsAbi);
  if (bad) return bad;
  // PMCR_EL0.N is 5 bits (31 event counters at most).
  if (
    m.pmuCounters !== undefined &&
    !(Number.isInteger(m.pmuCounters) && m.pmuCounters >= 0 && m.pmuCounters <= 31)
  )
    return "pmuCounters must be an integer 0..31 (PMCR_EL0.N)";
  if (
    m.counterOffset !== undefined &&
    !(typeof m.counterOffset === "bigint" && m.counterOffset >= 0n && m.counterOffset < 1n << 64n)
  )
    return "counterOffset is not a u64";
  if (m.smcccFilter !== undefined) {
    if (!Array.isArray(m.smcccFilter)) return "smcccFilter is not a list";
    if (m.smcccFilter.length > MAX_FILTER_RANGES)
      return `smcccFilter has more than ${MAX_FILTER_RANGES} ranges`;
    const seen: [number, number][] = [];
    for (const [k, r] of m.smcccFilter.entries()) {
      if (!Number.isInteger(r.base) || r.base < 0 || r.base > U32_MAX)
        return `smcccFilter[${k}].base is not a u32`;
      if (!Number.isInteger(r.nrFunctions) || r.nrFunctions < 1 || r.base + r.nrFunctions - 1 > U32_MAX)
        return `smcccFilter[${k}]: nrFunctions must be at least 1 and the range must end at or below 0xffffffff`;
      if (!FILTER_ACTION_NAMES.includes(r.action))
        return `smcccFilter[${k}].action is not one of ${FILTER_ACTION_NAMES.join(", ")}`;
      const end = r.base + r.nrFunctions - 1;
      // kvm_smccc_set_filter: mtree_insert_range refuses overlapping ranges (EEXIST) on every kernel.
      if (seen.some(([s, e]) => r.base <= e && s <= end))
        return `smcccFilter[${k}] overlaps an earlier range`;
      seen.push([r.base, end]);
    }
  }
  return undefined;
}

// ---- JSON form -------------------------------------------------------------------------------------

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{1,8}$/, "expected 0x and 1..8 hex digits");
const hex64 = z.string().regex(/^0x[0-9a-fA-F]{1,16}$/, "expected 0x and 1..16 hex digits");

export const MachinePinsJsonSchema = z
  .object({
    gicdIidrRevision: z.int().min(0).max(15).optional().meta({
      description: "GICD_IIDR.Revision (bits 15:12) written through KVM_DEV_ARM_VGIC_GRP_DIST_REGS",
    }),
    itsAbi: z
      .int()
      .min(0)
      .max(15)
      .optional()
      .meta({ description: "GITS_IIDR.Revision: the ITS table ABI (KVM_DEV_ARM_VGIC_GRP_ITS_REGS)" }),
    pmuCounters: z
      .int()
      .min(0)
      .max(31)
      .optional()
      .meta({ description: "PMCR_EL0.N: the PMU's event counters (ONE_REG or PMU_V3_SET_NR_COUNTERS)" }),
    counterOffset: hex64.optional().meta({ description: "KVM_ARM_SET_COUNTER_OFFSET's counter_offset" }),
    smcccFilter: z
      .array(
        z.object({
          base: hex32.meta({ description: "first SMCCC function id" }),
          nrFunctions: z.int().min(1).max(U32_MAX),
          action: z.enum(FILTER_ACTION_NAMES),
        }),
      )
      .max(MAX_FILTER_RANGES)
      .optional()
      .meta({ description: "KVM_ARM_VM_SMCCC_FILTER ranges, in the order they are set" }),
  })
  .meta({ description: "guest ABI outside ONE_REG: vGIC, ITS, PMU, counter offset, SMCCC filter" });
export type MachinePinsJson = z.input<typeof MachinePinsJsonSchema>;

const hex = (v: bigint | number): string => "0x" + v.toString(16);

/** The JSON form of a (validated) machine section. */
export function machinePinsToJson(m: MachinePins): MachinePinsJson {
  return {
    ...(m.gicdIidrRevision !== undefined ? { gicdIidrRevision: m.gicdIidrRevision } : {}),
    ...(m.itsAbi !== undefined ? { itsAbi: m.itsAbi } : {}),
    ...(m.pmuCounters !== undefined ? { pmuCounters: m.pmuCounters } : {}),
    ...(m.counterOffset !== undefined ? { counterOffset: hex(m.counterOffset) } : {}),
    ...(m.smcccFilter !== undefined
      ? {
          smcccFilter: m.smcccFilter.map((r) => ({
            base: hex(r.base),
            nrFunctions: r.nrFunctions,
            action: r.action,
          })),
        }
      : {}),
  };
}

/** A machine section from its schema-checked JSON form (validate it with machinePinsProblem). */
export function machinePinsFromJson(j: z.output<typeof MachinePinsJsonSchema>): MachinePins {
  return {
    ...(j.gicdIidrRevision !== undefined ? { gicdIidrRevision: j.gicdIidrRevision } : {}),
    ...(j.itsAbi !== undefined ? { itsAbi: j.itsAbi } : {}),
    ...(j.pmuCounters !== undefined ? { pmuCounters: j.pmuCounters } : {}),
    ...(j.counterOffset !== undefined ? { counterOffset: BigInt(j.counterOffset) } : {}),
    ...(j.smcccFilter !== undefined
      ? {
          smcccFilter: j.smcccFilter.map((r) => ({
            base: Number(r.base),
            nrFunctions: r.nrFunctions,
            action: r.action,
          })),
        }
      : {}),
  };
}
