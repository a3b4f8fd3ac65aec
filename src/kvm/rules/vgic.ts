/**
 * What the in-kernel vGICv3, its ITS and a vCPU's PMU show a guest and accept from userspace: one function
 * a kernel rule (arch/arm64/kvm/vgic/vgic-mmio-v3.c, vgic-its.c, vgic-kvm-device.c, pmu-emul.c,
 * sys_regs.c), read from the generation's model. The simulator serves guest and userspace accesses with
 * them; the checker, baseline and pin ask them what a host will do with a saved or pinned value.
 */
import type { ErrnoName } from "../errors.js";
import type { GenerationModel, VgicModel } from "../kernels/model.js";

/** PRODUCT_ID_KVM and IMPLEMENTER_ARM (vgic/vgic.h): every KVM GIC frame's IIDR carries them. */
const PRODUCT_ID_KVM = 0x4b;
const IMPLEMENTER_ARM = 0x43b;
const IIDR_REVISION_SHIFT = 12;
const IIDR_REVISION_MASK = 0xf << IIDR_REVISION_SHIFT;

/** vgic_mmio_read_v3_misc(GICD_IIDR): (PRODUCT_ID_KVM << 24) | (revision << 12) | IMPLEMENTER_ARM. */
export function gicdIidr(revision: number): number {
  return ((PRODUCT_ID_KVM << 24) | (revision << IIDR_REVISION_SHIFT) | IMPLEMENTER_ARM) >>> 0;
}

/** GICD_IIDR.Revision (bits 15:12). */
export function iidrRevision(iidr: number): number {
  return (iidr & IIDR_REVISION_MASK) >>> IIDR_REVISION_SHIFT;
}

/**
 * vgic_mmio_uaccess_write_v3_misc(GICD_IIDR): the revision a userspace write leaves, or EINVAL. 5.10 takes
 * only the value it reports; 6.1+ any listed revision with every other bit as KVM reports it.
 */
export function gicdIidrWrite(
  vgic: Pick<VgicModel, "iidrWritable">,
  currentRevision: number,
  value: number,
): { revision: number } | { errno: "EINVAL" } {
  const v = value >>> 0;
  if (vgic.iidrWritable === "ignored") return { revision: currentRevision };
  if (vgic.iidrWritable === "exact")
    return v === gicdIidr(currentRevision) ? { revision: currentRevision } : { errno: "EINVAL" };
  const revision = iidrRevision(v);
  if ((v & ~IIDR_REVISION_MASK) >>> 0 !== gicdIidr(0) || !vgic.iidrWritable.includes(revision))
    return { errno: "EINVAL" };
  return { revision };
}

/** The GICD_IIDR revisions a host lets userspace select (the current one is always among them). */
export function gicdIidrRevisionsAccepted(vgic: Pick<VgicModel, "iidrWritable" | "iidrRevision">): number[] {
  return typeof vgic.iidrWritable === "string" ? [vgic.iidrRevision] : [...vgic.iidrWritable];
}

/** INTERRUPT_ID_BITS_SPIS / INTERRUPT_ID_BITS_ITS (vgic/vgic.h). */
const ID_BITS_SPIS = 10;
const ID_BITS_ITS = 16;
const GICD_TYPER_LPIS = 1 << 17;

/**
 * vgic_mmio_read_v3_misc(GICD_TYPER): ITLinesNumber (4:0) from the interrupt count, IDbits (23:19) 9 or 15
 * with an ITS, LPIS with an ITS; nothing else (no MBIS, ESPI, RSS, A3V, SecurityExtn).
 */
export function gicdTyper(nrIrqs: number, hasIts: boolean): number {
  const itLines = nrIrqs / 32 - 1;
  const idBits = (hasIts ? ID_BITS_ITS : ID_BITS_SPIS) - 1;
  return ((idBits << 19) | (hasIts ? GICD_TYPER_LPIS : 0) | itLines) >>> 0;
}

/** GICD_CTLR_ARE_NS | GICD_CTLR_DS, always set; EnableGrp1NS (bit 1) once the guest enables the distributor. */
export function gicdCtlr(enabled: boolean): number {
  return 0x50 | (enabled ? 0x2 : 0);
}

/**
 * vgic_set_common_attr(KVM_DEV_ARM_VGIC_GRP_NR_IRQS): at least 32 SPIs, at most VGIC_MAX_RESERVED (1023),
 * a multiple of 32.
 */
export function nrIrqsValid(n: number): boolean {
  return Number.isInteger(n) && n >= 64 && n <= 1023 && n % 32 === 0;
}

/** The interrupt count a vGIC gets when userspace never set one (vgic_init: VGIC_NR_IRQS_LEGACY). */
export const DEFAULT_NR_IRQS = 256;

/** vgic_mmio_read_v3r_ctlr: EnableLPIs, and IR | CES (0x6) at revision 3 from 6.1. */
export function gicrCtlr(
  vgic: Pick<VgicModel, "rdCtlrRev3Bits">,
  revision: number,
  lpisEnabled: boolean,
): number {
  return (lpisEnabled ? 1 : 0) | (vgic.rdCtlrRev3Bits && revision >= 3 ? 0x6 : 0);
}

/** vgic_mmio_read_v3r_iidr: no revision in the redistributor's IIDR. */
export const GICR_IIDR = gicdIidr(0);

/**
 * vgic_mmio_read_v3r_typer: Affinity (63:32) = MPIDR Aff2:Aff1:Aff0, Processor_Number (23:8) = vCPU id,
 * PLPIS (bit 0) with an ITS, Last (bit 4) for the last redistributor of its region.
 */
export function gicrTyper(mpidr: bigint, vcpuId: number, hasIts: boolean, last: boolean): bigint {
  const affinity = mpidr & 0xff_ffffn;
  return (affinity << 32n) | (BigInt(vcpuId & 0xffff) << 8n) | (last ? 0x10n : 0n) | (hasIts ? 1n : 0n);
}

/** vgic_mmio_read_its_iidr: the ITS table ABI revision in bits 15:12. */
export function gitsIidr(abi: number): number {
  return gicdIidr(abi);
}

/** vgic_mmio_read_its_typer: PLPIS, ITT_entry_size 8 (7 << 4), IDbits 16 (15 << 8), Devbits 16 (15 << 13). */
export const GITS_TYPER = 0x1ef71n;

/** GITS_CTLR of a new ITS: Quiescent (CREADR == CWRITER), not enabled (vgic_mmio_read_its_ctlr). */
export const GITS_CTLR_RESET = 0x8000_0000;

/**
 * vgic_mmio_uaccess_write_its_iidr: only the revision is looked at; one the kernel has no table ABI for
 * is EINVAL, else vgic_its_set_abi.
 */
export function gitsIidrWrite(
  vgic: Pick<VgicModel, "itsAbis">,
  value: number,
): { abi: number } | { errno: "EINVAL" } {
  const abi = iidrRevision(value >>> 0);
  return vgic.itsAbis.includes(abi) ? { abi } : { errno: "EINVAL" };
}

/**
 * The guest's ID_AA64PFR0_EL1.GIC / ID_PFR1_EL1.GIC in a VM with a vGICv3 when KVM sets them, given what
 * the VM's register holds: 7.2 kvm_vgic_finalize_idregs forces them (GIC = 1; the AArch32 field 1 only
 * with 32-bit EL0), 6.18's kvm_vgic_create sets both to GICv3, earlier kernels keep the VM's value.
 */
export function gicIdFieldWithV3(
  vgic: Pick<VgicModel, "idFieldsWithV3">,
  field: "ID_AA64PFR0_EL1.GIC" | "ID_PFR1_EL1.GIC",
  current: number,
  has32bitEl0: boolean,
): number {
  if (vgic.idFieldsWithV3 === "kept") return current;
  return field === "ID_AA64PFR0_EL1.GIC" || has32bitEl0 || vgic.idFieldsWithV3 === "setAtCreate" ? 1 : 0;
}

/** How a kernel takes a vCPU PMU's number of event counters (PMCR_EL0.N). */
export type PmuCountersOutcome =
  /** Stored: the guest reads it. */
  | { kind: "set" }
  /** Stored without a check against the hardware (5.10/6.1 store PMCR_EL0 verbatim). */
  | { kind: "unchecked" }
  /** Returns 0 but keeps the old value (6.7+ set_pmcr: N above the limit, or after the first run). */
  | { kind: "ignored"; why: string }
  | { kind: "error"; errno: ErrnoName; why: string };

/**
 * Setting the counter count through KVM_SET_ONE_REG(PMCR_EL0) (sys_regs.c: 5.10/6.1 reg_from_user, 6.7+
 * set_pmcr) or the SET_NR_COUNTERS attribute (kvm_arm_pmu_v3_set_nr_counters, before the vCPU's PMU
 * INIT; ENXIO where the kernel lacks it).
 */
export function pmuCountersWrite(
  model: Pick<GenerationModel, "pmcrReset" | "pmuCtrlMaxAttr">,
  via: "pmcr" | "attr",
  n: number,
  limit: number,
  vmHasRun: boolean,
): PmuCountersOutcome {
  if (via === "attr") {
    if (model.pmuCtrlMaxAttr < 4)
      return { kind: "error", errno: "ENXIO", why: "no SET_NR_COUNTERS attribute" };
    if (n > limit) return { kind: "error", errno: "EINVAL", why: `${n} counters > the PMU's ${limit}` };
    return { kind: "set" };
  }
  if (model.pmcrReset === "host") return { kind: "unchecked" };
  if (vmHasRun) return { kind: "ignored", why: "PMCR_EL0.N is fixed after the first run" };
  if (n > limit) return { kind: "ignored", why: `${n} counters > the PMU's ${limit}` };
  return { kind: "set" };
}

/**
 * The PMCR_EL0 bits a userspace write sets from 6.7 (set_pmcr: ARMV8_PMU_PMCR_MASK, bits 7:0, and N,
 * 15:11): IMP and IDCODE are the host's read-only bits, dropped; 5.10/6.1 store the whole value.
 */
export const PMCR_USER_MUTABLE = 0xffn | (0x1fn << 11n);
