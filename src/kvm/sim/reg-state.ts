/**
 * A vCPU's saved registers (vcpu->arch.ctxt: the core registers and sys_regs[]), as the simulator's files
 * use them: get, set and clear of a Map keyed by register id (core registers by id, system registers by
 * their descriptor's encoding, anything else such as SVE slices or the pre-7.x timer ids by id).
 *
 * Stored as an array indexed by a slot table shared by every vCPU of a generation (the core registers,
 * then every sys_reg_descs encoding), with a Map only for the other ids: KVM_ARM_VCPU_INIT resets some
 * 500 registers per vCPU, and growing a hash table for each of 512 vCPUs cost more than all their
 * KVM_SET_ONE_REGs.
 */
import { CORE_REGS } from "../../regs/core-regs.js";
import { COPROC, makeId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import type { RegValue } from "../types.js";
import type { SysregDesc } from "../kernels/descs.js";

const slotTables = new WeakMap<readonly SysregDesc[], ReadonlyMap<RegId, number>>();

/** The slot of each core register and each descriptor encoding of a descriptor table (descsOf). */
export function stateSlots(descs: readonly SysregDesc[]): ReadonlyMap<RegId, number> {
  let slots = slotTables.get(descs);
  if (!slots) {
    const m = new Map<RegId, number>();
    for (const c of CORE_REGS) m.set(makeId(c.size, COPROC.core, c.offset), m.size);
    for (const d of descs) if (!m.has(d.id)) m.set(d.id, m.size);
    slots = m;
    slotTables.set(descs, slots);
  }
  return slots;
}

const slottedLists = new WeakMap<readonly SysregDesc[], readonly { d: SysregDesc; slot: number }[]>();

/** Descriptors of a descriptor table (all of them or a part, e.g. nonIdDescs) with their slots in it. */
export function descSlots(
  table: readonly SysregDesc[],
  descs: readonly SysregDesc[],
): readonly { d: SysregDesc; slot: number }[] {
  let out = slottedLists.get(descs);
  if (!out) {
    const slots = stateSlots(table);
    slottedLists.set(descs, (out = descs.map((d) => ({ d, slot: slots.get(d.id)! }))));
  }
  return out;
}

export class RegState {
  /** A number stands for that many zero bytes whose array is not made yet (setZeroBytes). */
  private readonly values: (RegValue | number | undefined)[];
  private other: Map<RegId, RegValue> | undefined;

  constructor(private readonly slots: ReadonlyMap<RegId, number>) {
    this.values = new Array<RegValue | number | undefined>(slots.size).fill(undefined);
  }

  get(id: RegId): RegValue | undefined {
    const slot = this.slots.get(id);
    return slot === undefined ? this.other?.get(id) : this.getAt(slot);
  }

  /** get() of the register in `slot` (stateSlots): ONE_REG knows the slot of every listed id. */
  getAt(slot: number): RegValue | undefined {
    const v = this.values[slot];
    if (typeof v !== "number") return v;
    const zero = new Uint8Array(v);
    this.values[slot] = zero;
    return zero;
  }

  /**
   * A register of `bytes` zero bytes (a V-register at reset), its own array made on the first get:
   * every KVM_ARM_VCPU_INIT resets 32 of them, and a restore overwrites them all.
   */
  setZeroBytes(id: RegId, bytes: number): void {
    const slot = this.slots.get(id);
    if (slot === undefined) (this.other ??= new Map()).set(id, new Uint8Array(bytes));
    else this.values[slot] = bytes;
  }

  set(id: RegId, value: RegValue): this {
    const slot = this.slots.get(id);
    if (slot === undefined) (this.other ??= new Map()).set(id, value);
    else this.values[slot] = value;
    return this;
  }

  /** set() of the register in `slot`. */
  setAt(slot: number, value: RegValue): void {
    this.values[slot] = value;
  }

  clear(): void {
    this.values.fill(undefined);
    this.other?.clear();
  }
}
