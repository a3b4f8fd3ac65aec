/** Shared by the simulated kernel's files: uapi asm/kvm.h timer ids, SMCCC filter actions, the errno helper. */
import { KvmError } from "../errors.js";
import type { ErrnoName } from "../errors.js";
import { CAPS } from "../uapi.js";

export const M64 = (1n << 64n) - 1n;
/**
 * The errnos probes and save/restore ask for and catch (no such register or feature, a value refused,
 * the list's size), thrown without a stack trace (KvmError.withoutStack); the others keep theirs.
 */
const EXPECTED_ANSWERS: ReadonlySet<ErrnoName> = new Set<ErrnoName>(["ENOENT", "EINVAL", "E2BIG"]);

export const fail = (op: string, errno: ErrnoName, detail?: string): never => {
  const opts = detail ? { detail } : {};
  throw EXPECTED_ANSWERS.has(errno) ? KvmError.withoutStack(op, errno, opts) : new KvmError(op, errno, opts);
};

// uapi asm/kvm.h: KVM_REG_ARM_TIMER_* keep their historical ids (TIMER_CNT and TIMER_CVAL are swapped
// against the architectural encodings of CNTVCT_EL0 and CNTV_CVAL_EL0).
export const TIMER_CTL = 0x603000000013df19n;
export const TIMER_CNT = 0x603000000013df1an;
export const TIMER_CVAL = 0x603000000013df02n;
export const PTIMER_CNT = 0x603000000013df01n;
export const PTIMER_CTL = 0x603000000013df11n;
export const PTIMER_CVAL = 0x603000000013df12n;
export const ARCH_TIMER_CTRL_IT_STAT = 1n << 2n;

export const CAPS_BY_NUMBER = new Map([...CAPS.values()].map((c) => [c.number, c]));

/** KVM_SMCCC_FILTER_* actions. */
export const FILTER = { HANDLE: 0, DENY: 1, FWD_TO_USER: 2 } as const;
