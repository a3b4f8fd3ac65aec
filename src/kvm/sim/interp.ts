/**
 * The A64 interpreter: the instructions the guest probe program uses (src/kvm/guest/a64.ts) and a few
 * more, with the AArch64 exception model of an EL1 guest (MMU off: virtual = physical). Encodings from
 * the Arm ARM (DDI 0487) C6; exception entry and return from D1 ("Exception entry", ERET).
 *
 *   MOVZ/MOVK (64-bit)      MOV Xd, Xm (ORR shifted register, Rn = XZR)   ADD Xd|SP, Xn|SP, #imm{, LSL #12}
 *   LDR/STR Xt, [Xn|SP, #imm] (64-bit unsigned offset)   LDR Wt, [Xn|SP, #imm] (32-bit, zero-extends)
 *   B   RET   HVC   SMC   MRS   MSR   ERET   NOP   ISB   WFI
 *
 * Anything else is UNDEFINED: a synchronous exception to VBAR_EL1 + 0x200 (current EL, SPx; +0x000 from
 * EL1t, +0x400 from EL0) with ESR_EL1 = EC 0x00 (Unknown) | IL, ELR_EL1 = the instruction, as hardware
 * gives it. What the hypervisor does with traps (HVC, SMC, system registers, aborts on addresses no memory
 * backs, WFI) is the machine's, including in-kernel devices (A64Machine.mmio): the simulator's vCPU (vcpu.ts and its seam files) implements KVM's
 * handling, a test double can implement its own (src/kvm/sim/testing/scripted-guest.ts).
 */
import type { KvmExit } from "../types.js";

/** The (op0, op1, CRn, CRm, op2) of an MRS/MSR. */
export interface SysregEnc {
  op0: number;
  op1: number;
  crn: number;
  crm: number;
  op2: number;
}

/** Architectural state the interpreter reads and writes besides x0..x30 and PC. */
export type A64StateReg =
  "PSTATE" | "SP_EL0" | "SP_EL1" | "ELR_EL1" | "SPSR_EL1" | "ESR_EL1" | "FAR_EL1" | "VBAR_EL1";

/** What a trapped HVC/SMC did: go on (results already in x0..x3), stop with an exit, or UNDEF. */
export type TrapOutcome = { kind: "continue" } | { kind: "exit"; exit: KvmExit } | { kind: "undef" };

/** A load or store at a guest-physical address no memory backs. data: a store's bytes (zeros for a load). */
export interface MmioAccess {
  address: bigint;
  isWrite: boolean;
  len: number;
  rt: number;
  data: Uint8Array;
}

/** The machine under the interpreter: registers, memory, and the hypervisor's handling of traps. */
export interface A64Machine {
  x(n: number): bigint;
  setX(n: number, v: bigint): void;
  pc(): bigint;
  setPc(v: bigint): void;
  get(r: A64StateReg): bigint;
  set(r: A64StateReg, v: bigint): void;
  /** Guest RAM at a guest-physical address, or undefined (no memory slot there). */
  ram(gpa: bigint, len: number): { mem: Uint8Array; off: number } | undefined;
  /** HVC #imm from EL1, PC already advanced past it (the preferred return of the trap). */
  hvc(imm: number): TrapOutcome;
  /** SMC #imm from EL1 (HCR_EL2.TSC traps it), PC already advanced past it. */
  smc(imm: number): TrapOutcome;
  /**
   * MRS at EL1 of a register the interpreter does not hold itself: its value, "undef" (EC 0x00: KVM's
   * kvm_inject_undefined, or an UNDEFINED encoding), or "sysreg-trap" (an UNDEFINED read the CPU reports with
   * EC 0x18 and the access's ISS, as FEAT_IDST does in the feature ID space).
   */
  mrs(e: SysregEnc): bigint | "undef" | "sysreg-trap";
  /** MSR at EL1 of a register the interpreter does not hold itself; false = UNDEF. */
  msr(e: SysregEnc, v: bigint): boolean;
  /**
   * A load/store of `len` bytes at a guest-physical address no memory backs (a stage-2 fault with a
   * valid ISV; io_mem_abort). PC still points at the instruction. Returns one of:
   * - a KvmExit: the access leaves KVM (KVM_EXIT_MMIO); PC stays on the instruction until the machine
   *   completes the access at the next KVM_RUN (kvm_handle_mmio_return).
   * - a bigint, for a load only: an in-kernel device completed it (kvm_io_bus_read succeeded); the value
   *   is the `len` bytes it read, little-endian, as an unsigned integer. The interpreter writes it to Rt
   *   zero-extended from `len` bytes (nothing for xzr) and steps past the instruction.
   * - undefined, for a store only: an in-kernel device took `data` (kvm_io_bus_write succeeded); the
   *   interpreter steps past the instruction.
   * A bigint for a store or undefined for a load is a bug of the machine: the interpreter throws.
   */
  mmio(access: MmioAccess): KvmExit | bigint | undefined;
  /** An instruction fetch from an address no memory backs: the machine injects an abort or stops. */
  fetchAbort(pc: bigint): KvmExit | undefined;
  /** WFI: the machine's exit (KVM blocks the vCPU until an interrupt or a signal), or undefined to go on. */
  wfi(): KvmExit | undefined;
}

const M64 = (1n << 64n) - 1n;
export const ESR_EC_UNKNOWN = 0x00;
export const ESR_EC_IABT_CUR = 0x21;
export const ESR_EC_SYS64 = 0x18;
export const ESR_IL = 1n << 25n;
/** PSTATE after exception entry to EL1h: D, A, I, F masked, M = EL1h (0b0101). */
export const PSTATE_EL1H_MASKED = 0x3c5n;

const elOf = (pstate: bigint) => Number((pstate >> 2n) & 3n);

/** Takes a synchronous exception to EL1 (Arm ARM D1.3.1): ELR, SPSR, ESR, FAR, PSTATE, vector. */
export function takeException(m: A64Machine, esr: bigint, far?: bigint): void {
  const pstate = m.get("PSTATE");
  const offset = elOf(pstate) === 0 ? 0x400n : (pstate & 1n) === 1n ? 0x200n : 0x000n;
  m.set("ELR_EL1", m.pc());
  m.set("SPSR_EL1", pstate);
  m.set("ESR_EL1", esr);
  if (far !== undefined) m.set("FAR_EL1", far);
  m.set("PSTATE", PSTATE_EL1H_MASKED);
  m.setPc(((m.get("VBAR_EL1") & ~0x7ffn) + offset) & M64);
}

export const undefEsr = (): bigint => ESR_IL | BigInt(ESR_EC_UNKNOWN << 26);

/** ESR_ELx of a trapped MSR/MRS (EC 0x18; Arm ARM D17.2.37 ISS encoding for EC 0x18). */
export function sysregTrapEsr(e: SysregEnc, rt: number, isRead: boolean): bigint {
  const iss =
    (e.op0 << 20) |
    (e.op2 << 17) |
    (e.op1 << 14) |
    (e.crn << 10) |
    (rt << 5) |
    (e.crm << 1) |
    (isRead ? 1 : 0);
  return ESR_IL | (BigInt(ESR_EC_SYS64) << 26n) | BigInt(iss);
}

/** The stack pointer of the current EL and SPSel (PSTATE.SP): SP_EL0 at EL0 or EL1t, SP_EL1 at EL1h. */
const spReg = (m: A64Machine): A64StateReg =>
  elOf(m.get("PSTATE")) >= 1 && (m.get("PSTATE") & 1n) === 1n ? "SP_EL1" : "SP_EL0";

function getX(m: A64Machine, r: number, spIs31: boolean): bigint {
  if (r === 31) return spIs31 ? m.get(spReg(m)) : 0n;
  return m.x(r);
}
function setX(m: A64Machine, r: number, val: bigint, spIs31: boolean): void {
  if (r === 31) {
    if (spIs31) m.set(spReg(m), val & M64);
    return;
  }
  m.setX(r, val & M64);
}

const leLoad = (mem: Uint8Array, off: number, len: number): bigint => {
  let x = 0n;
  for (let i = len - 1; i >= 0; i--) x = (x << 8n) | BigInt(mem[off + i]!);
  return x;
};
const leStore = (mem: Uint8Array, off: number, v: bigint, len: number): void => {
  for (let i = 0; i < len; i++, v >>= 8n) mem[off + i] = Number(v & 0xffn);
};

/** Registers the interpreter keeps itself (EL1's exception registers; CurrentEL). */
function ownSysreg(e: SysregEnc): A64StateReg | "CurrentEL" | undefined {
  if (e.op0 !== 3) return undefined;
  const k = `${e.op1}.${e.crn}.${e.crm}.${e.op2}`;
  switch (k) {
    case "0.4.0.0":
      return "SPSR_EL1";
    case "0.4.0.1":
      return "ELR_EL1";
    case "0.4.1.0":
      return "SP_EL0";
    case "0.5.2.0":
      return "ESR_EL1";
    case "0.6.0.0":
      return "FAR_EL1";
    case "0.12.0.0":
      return "VBAR_EL1";
    case "0.4.2.2":
      return "CurrentEL";
    default:
      return undefined;
  }
}

/**
 * Executes one instruction. Returns an exit to leave the run loop, or undefined to go on.
 * At EL0, HVC, SMC, ERET and accesses to registers with op1 != 3 are UNDEFINED (Arm ARM C5/C6).
 */
export function execute(m: A64Machine): KvmExit | undefined {
  const pc = m.pc();
  const fetched = m.ram(pc, 4);
  if (!fetched) return m.fetchAbort(pc);
  const { mem, off } = fetched;
  const w = (mem[off]! | (mem[off + 1]! << 8) | (mem[off + 2]! << 16) | (mem[off + 3]! << 24)) >>> 0;
  const next = (pc + 4n) & M64;
  const rd = w & 31;
  const el = elOf(m.get("PSTATE"));
  const undef = () => takeException(m, undefEsr());

  if ((w & 0xff800000) >>> 0 === 0xd2800000 || (w & 0xff800000) >>> 0 === 0xf2800000) {
    // MOVZ / MOVK (64-bit): sf=1 opc=10/11 100101 hw imm16 Rd
    const hw = BigInt((w >>> 21) & 3) * 16n;
    const imm = BigInt((w >>> 5) & 0xffff) << hw;
    const keep = (w & 0xff800000) >>> 0 === 0xf2800000 ? getX(m, rd, false) & ~(0xffffn << hw) : 0n;
    setX(m, rd, keep | imm, false);
  } else if ((w & 0xffe0ffe0) >>> 0 === 0xaa0003e0) {
    setX(m, rd, getX(m, (w >>> 16) & 31, false), false); // MOV Xd, Xm = ORR Xd, XZR, Xm
  } else if ((w & 0xff800000) >>> 0 === 0x91000000) {
    // ADD Xd|SP, Xn|SP, #imm12{, LSL #12}
    const sh = (w >>> 22) & 1 ? 12n : 0n;
    setX(m, rd, getX(m, (w >>> 5) & 31, true) + (BigInt((w >>> 10) & 0xfff) << sh), true);
  } else if (
    (w & 0xffc00000) >>> 0 === 0xf9000000 ||
    (w & 0xffc00000) >>> 0 === 0xf9400000 ||
    (w & 0xffc00000) >>> 0 === 0xb9400000
  ) {
    // STR / LDR Xt, [Xn|SP, #imm12 * 8] (size=11); LDR Wt, [Xn|SP, #imm12 * 4] (size=10, zero-extends)
    const len = w >>> 30 === 3 ? 8 : 4;
    const load = ((w >>> 22) & 1) === 1;
    const addr = (getX(m, (w >>> 5) & 31, true) + BigInt(((w >>> 10) & 0xfff) * len)) & M64;
    const r = m.ram(addr, len);
    if (!r) {
      const data = new Uint8Array(len);
      if (!load) leStore(data, 0, getX(m, rd, false), len);
      const out = m.mmio({ address: addr, isWrite: !load, len, rt: rd, data });
      if (typeof out === "object") return out;
      if ((out === undefined) === load)
        throw new Error(
          `A64Machine.mmio completed a ${load ? "load without a value" : "store with a value"}`,
        );
      if (out !== undefined) setX(m, rd, BigInt.asUintN(8 * len, out), false);
    } else if (load) setX(m, rd, leLoad(r.mem, r.off, len), false);
    else leStore(r.mem, r.off, getX(m, rd, false), len);
  } else if ((w & 0xfc000000) >>> 0 === 0x14000000) {
    m.setPc((pc + BigInt.asIntN(26, BigInt(w & 0x3ffffff)) * 4n) & M64); // B
    return undefined;
  } else if ((w & 0xfffffc1f) >>> 0 === 0xd65f0000) {
    m.setPc(getX(m, (w >>> 5) & 31, false)); // RET Xn
    return undefined;
  } else if ((w & 0xffe0001f) >>> 0 === 0xd4000002 || (w & 0xffe0001f) >>> 0 === 0xd4000003) {
    // HVC / SMC #imm16: UNDEFINED at EL0; otherwise a trap whose preferred return is the next instruction
    if (el === 0) {
      undef();
      return undefined;
    }
    const imm = (w >>> 5) & 0xffff;
    m.setPc(next);
    const out = (w & 3) === 3 ? m.smc(imm) : m.hvc(imm);
    if (out.kind === "undef") {
      m.setPc(pc); // an UNDEFINED SMC never trapped: ELR is the instruction itself
      undef();
    } else if (out.kind === "exit") return out.exit;
    return undefined;
  } else if ((w & 0xfff00000) >>> 0 === 0xd5300000 || (w & 0xfff00000) >>> 0 === 0xd5100000) {
    // MRS / MSR (register), op0 = 2 + o0
    const e: SysregEnc = {
      op0: 2 + ((w >>> 19) & 1),
      op1: (w >>> 16) & 7,
      crn: (w >>> 12) & 15,
      crm: (w >>> 8) & 15,
      op2: (w >>> 5) & 7,
    };
    const isRead = ((w >>> 21) & 1) === 1;
    if (el === 0 && e.op1 !== 3) {
      undef();
      return undefined;
    }
    const own = ownSysreg(e);
    if (isRead) {
      let v: bigint | "undef" | "sysreg-trap";
      if (own === "CurrentEL") v = BigInt(el) << 2n;
      else if (own) v = m.get(own);
      else v = m.mrs(e);
      if (v === "undef") {
        undef();
        return undefined;
      }
      if (v === "sysreg-trap") {
        takeException(m, sysregTrapEsr(e, rd, true));
        return undefined;
      }
      setX(m, rd, v, false);
    } else if (own === "CurrentEL") {
      undef(); // read-only
      return undefined;
    } else if (own) {
      m.set(own, getX(m, rd, false));
    } else if (!m.msr(e, getX(m, rd, false))) {
      undef();
      return undefined;
    }
  } else if (w === 0xd69f03e0) {
    // ERET: PC <- ELR_EL1, PSTATE <- SPSR_EL1 (UNDEFINED at EL0)
    if (el === 0) {
      undef();
      return undefined;
    }
    m.setPc(m.get("ELR_EL1"));
    m.set("PSTATE", m.get("SPSR_EL1"));
    return undefined;
  } else if (w === 0xd503207f) {
    // WFI: completes on a wakeup; the trap's preferred return is the next instruction (kvm_handle_wfx)
    m.setPc(next);
    return m.wfi();
  } else if (w === 0xd503201f || w === 0xd5033fdf) {
    // NOP, ISB
  } else {
    undef();
    return undefined;
  }
  m.setPc(next);
  return undefined;
}

/** Runs until an exit to userspace, or `budget` instructions (then an INTR exit, as after a signal). */
export function run(m: A64Machine, budget: number): KvmExit {
  for (let n = 0; n < budget; n++) {
    const exit = execute(m);
    if (exit) return exit;
  }
  return { reason: "INTR", code: 10 };
}
