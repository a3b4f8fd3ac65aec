/**
 * guestabi's own KVM extensions: the proposals of the "KVM/arm64: Guest ABI changes do not appear
 * rollback-safe" discussion (kvm@vger, August 2021 - 2022), modelled as opt-in capabilities of the
 * simulated kernel. Upstream has none of this; every number here lies outside what upstream uses.
 *
 * A simulated kernel offers them only when built with `proposals: true` (SimOptions): then
 * KVM_CHECK_EXTENSION answers 1 and KVM_ENABLE_CAP on the VM turns each on, before any vCPU exists
 * (EINVAL afterwards, like KVM_CAP_ARM_WRITABLE_IMP_ID_REGS in kvm_vm_ioctl_enable_cap); flags and
 * args must be 0 (EINVAL). See README.md for the semantics.
 */
import { COPROC, makeId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";

/** Capability numbers: upstream's KVM_CAP_* stop far below 0x10000 (7.2: < 300). */
export const GUESTABI_CAP = {
  /** (a) Oliver Upton: hypercall identity firmware registers (HYPERCALL_IDENTITY range). */
  HYPERCALL_IDENTITY: 0x10000,
  /** (b) Marc Zyngier: KVM_GET_REG_LIST marks the ids whose writes are VM-global (REG_SCOPE_VM_FLAG). */
  REG_SCOPE_FLAGS: 0x10001,
  /**
   * (c) Sean Christopherson: VM-scoped GET_REG_LIST/GET_ONE_REG/SET_ONE_REG (SimVm.getRegListVmRaw,
   * getOneRegVm, setOneRegVm; immutable once a vCPU exists), and everything the kernel generation added
   * (its `newHere` items) defaults to off, so a VMM unaware of the additions changes nothing.
   */
  VM_SCOPED_REGS: 0x10002,
} as const;
export type GuestabiCapName = keyof typeof GUESTABI_CAP;

export function guestabiCapName(cap: number): GuestabiCapName | undefined {
  return (Object.keys(GUESTABI_CAP) as GuestabiCapName[]).find((k) => GUESTABI_CAP[k] === cap);
}

/**
 * (a) The hypercall identity range: KVM_REG_ARM_FW_REG(0x8000 + service), coproc 0x14. Upstream's
 * firmware registers grow from index 0 (7.2: 0..3); this range is the upper half of the 16-bit index.
 */
export const HYPERCALL_IDENTITY_BASE = 0x8000;
export const HYPERCALL_IDENTITY_COUNT = 0x100;

export function identityRegId(service: number): RegId {
  if (!Number.isInteger(service) || service < 0 || service >= HYPERCALL_IDENTITY_COUNT)
    throw new RangeError(`hypercall service ${service} outside 0..${HYPERCALL_IDENTITY_COUNT - 1}`);
  return makeId("U64", COPROC.fw, HYPERCALL_IDENTITY_BASE + service);
}

/** The service number of an id in the identity range (any size field), or undefined. */
export function identityService(id: RegId): number | undefined {
  if (((id >> 16n) & 0xfffn) !== BigInt(COPROC.fw)) return undefined;
  const low = Number(id & 0xffffn);
  return low >= HYPERCALL_IDENTITY_BASE && low < HYPERCALL_IDENTITY_BASE + HYPERCALL_IDENTITY_COUNT
    ? low - HYPERCALL_IDENTITY_BASE
    : undefined;
}

/**
 * (b) The scope flag: bit 51 of a KVM_GET_REG_LIST entry, set when a write to the register through any
 * vCPU changes it for the whole VM. Bits 28..51 of an arm64 ONE_REG id are never set upstream
 * (KVM_REG_ARM_COPROC_MASK ends at bit 27, KVM_REG_SIZE starts at bit 52), so src/regs/id.ts
 * calls such an id malformed: strip the flag before decoding.
 */
export const REG_SCOPE_VM_FLAG = 1n << 51n;

export function hasScopeFlag(id: RegId): boolean {
  return (id & REG_SCOPE_VM_FLAG) !== 0n;
}

/** The upstream id of a (possibly flagged) GET_REG_LIST entry. */
export function stripScopeFlag(id: RegId): RegId {
  return id & ~REG_SCOPE_VM_FLAG;
}

/** "vm" for a flagged entry, "vcpu" otherwise (meaningful only with REG_SCOPE_FLAGS enabled). */
export function scopeOfListEntry(id: RegId): "vm" | "vcpu" {
  return hasScopeFlag(id) ? "vm" : "vcpu";
}

export interface ProposalState {
  identity: boolean;
  scopeFlags: boolean;
  vmRegs: boolean;
}
