/**
 * Registers whose KVM_GET_ONE_REG value moves on its own, so profiles never compare those bits.
 * Decided from the kernel sources of 5.10 / 6.1 / 6.12 / 7.2 (arch/arm64/kvm/):
 *
 * - KVM_REG_ARM_TIMER_CNT (CNTVCT_EL0) and KVM_REG_ARM_PTIMER_CNT (CNTPCT_EL0): the host counter minus
 *   the timer's offset, read at each call: kvm_arm_timer_read(TIMER_REG_CNT) =
 *   kvm_phys_timer_read() - timer_get_offset() via kvm_arm_timer_get_reg() (arch_timer.c, 5.10..6.12),
 *   arch_timer_get_user() (sys_regs.c, 7.x). CNTVCTSS/CNTPCTSS are the same counters (7.x lists
 *   neither: their sys_reg_desc has no .reg or .get_user, walk_one_sys_reg() skips them).
 * - KVM_REG_ARM_TIMER_CTL / KVM_REG_ARM_PTIMER_CTL, bit 2 (ISTATUS) only: read_timer_ctl() sets it when
 *   kvm_timer_compute_delta() is 0, i.e. when the counter has passed CVAL (5.10..6.12); 7.x's
 *   arch_timer_get_user() returns the saved CTL, whose ISTATUS is whatever the hardware showed when the
 *   vCPU was last put. ENABLE and IMASK do not move.
 * - Not the CVALs: kvm_arm_timer_read(TIMER_REG_CVAL) / __vcpu_sys_reg() return the stored compare
 *   value, which only the guest or userspace changes (TVAL, which does depend on the counter, is not
 *   a listed register).
 * - PMCCNTR_EL0 and PMEVCNTR<n>_EL0: kvm_pmu_get_counter_value() adds the backing perf event's count,
 *   which grows while the guest has the counter enabled (PMCR_EL0.E and PMCNTENSET_EL0). A vCPU at
 *   reset counts nothing, but saved state from a running guest does.
 * - PMOVSSET_EL0 / PMOVSCLR_EL0 (one register): kvm_pmu_perf_overflow() sets overflow bits
 *   asynchronously while counters run.
 * - KVM_PTP results (guest view, not registers) are flagged by the probe program itself.
 *
 * Anything else seen to differ between two reads at reset is marked "observed".
 */
import { decodeId, describeId, kvmTimerByEncoding } from "../../regs/index.js";
import type { RegId } from "../../regs/index.js";
import type { RegValue } from "../types.js";
import { regValuesEqual } from "../values.js";

export const ALL_BITS = (1n << 64n) - 1n;
const ISTATUS = 1n << 2n;

export interface TimeVaryingRule {
  mask: bigint;
  why: string;
}

const COUNTER_WHY =
  "counter: kvm_phys_timer_read() - offset (kvm_arm_timer_read TIMER_REG_CNT; 7.x arch_timer_get_user)";
const CTL_WHY =
  "ISTATUS follows the counter: read_timer_ctl() sets it once kvm_timer_compute_delta() is 0 (5.10..6.12)";
const PMU_WHY = "counts while enabled: kvm_pmu_get_counter_value() adds the perf event's count";
const OVF_WHY = "overflow bits set asynchronously by kvm_pmu_perf_overflow()";

/** The register KVM exposes through an id (KVM's swapped timer ids hold another register). */
function heldRegister(id: RegId): string {
  const d = decodeId(id);
  if (d.class !== "sysreg") return describeId(id).name;
  return kvmTimerByEncoding(d)?.holds ?? describeId(id).name;
}

/** The kernel's reason an id's value moves on its own, or undefined. */
export function timeVaryingRule(id: RegId): TimeVaryingRule | undefined {
  const held = heldRegister(id);
  if (/^CNT[VP]CT(SS)?_EL0$/.test(held)) return { mask: ALL_BITS, why: COUNTER_WHY };
  if (held === "CNTV_CTL_EL0" || held === "CNTP_CTL_EL0") return { mask: ISTATUS, why: CTL_WHY };
  if (held === "PMCCNTR_EL0" || /^PMEVCNTR\d+_EL0$/.test(held)) return { mask: ALL_BITS, why: PMU_WHY };
  if (held === "PMOVSSET_EL0" || held === "PMOVSCLR_EL0") return { mask: ALL_BITS, why: OVF_WHY };
  return undefined;
}

/** The CVAL each CTL's ISTATUS compares the counter with, by uapi id (KVM_REG_ARM_TIMER_CVAL is CNTVCT_EL0's encoding). */
const CVAL_OF_CTL = new Map<RegId, RegId>([
  [0x603000000013df19n, 0x603000000013df02n], // KVM_REG_ARM_TIMER_CTL (CNTV_CTL_EL0): KVM_REG_ARM_TIMER_CVAL
  [0x603000000013df11n, 0x603000000013df12n], // KVM_REG_ARM_PTIMER_CTL (CNTP_CTL_EL0): KVM_REG_ARM_PTIMER_CVAL
]);

/**
 * The bits of an id's time-varying mask that cannot move given the other registers read with it
 * (`reading`): a CTL's ISTATUS while its CVAL reads 0. read_timer_ctl() (5.10..6.12) sets ISTATUS once
 * kvm_timer_compute_delta() is 0, i.e. the counter is not below CVAL, which a CVAL of 0 always is (the
 * bit reads 1, at reset and after any run that left CVAL at 0); 7.x's arch_timer_get_user() returns the
 * saved CTL, which nothing changes between runs. With CVAL ahead of the counter the bit does flip.
 */
export function steadyBits(id: RegId, reading: (id: RegId) => RegValue | string | undefined): bigint {
  const cval = CVAL_OF_CTL.get(id);
  return cval !== undefined && reading(cval) === 0n ? ISTATUS : 0n;
}

/** Bits in which two readings differ (all of them when they are not both 64-bit values). */
export function differingBits(a: RegValue | string, b: RegValue | string): bigint {
  if (typeof a === "bigint" && typeof b === "bigint") return a ^ b;
  if (typeof a === "string" || typeof b === "string") return a === b ? 0n : ALL_BITS;
  return regValuesEqual(a, b) ? 0n : ALL_BITS;
}

export interface TimeVaryingEntry {
  id: RegId;
  name: string;
  mask: bigint;
  why: string;
}

/**
 * The time-varying registers of a list: the kernel-source rules above, plus any register whose two
 * readings at reset (`first`, `second`, same order as `ids`) differ outside its rule's mask.
 */
export function markTimeVarying(
  ids: readonly RegId[],
  first: readonly (RegValue | string)[],
  second: readonly (RegValue | string)[],
): TimeVaryingEntry[] {
  const out: TimeVaryingEntry[] = [];
  ids.forEach((id, i) => {
    const rule = timeVaryingRule(id);
    const moved = differingBits(first[i]!, second[i]!) & ~(rule?.mask ?? 0n);
    const name = describeId(id).name;
    if (moved !== 0n) out.push({ id, name, mask: ALL_BITS, why: "observed: two reads at reset differed" });
    else if (rule) out.push({ id, name, ...rule });
  });
  return out;
}

/** Whether two readings of a register differ outside its time-varying bits. */
export function differsIgnoringTime(
  a: RegValue | string,
  b: RegValue | string,
  mask: bigint | undefined,
): boolean {
  return (differingBits(a, b) & ~(mask ?? 0n)) !== 0n;
}
