/**
 * A small A64 interpreter for exactly the instructions the guest probe program uses (src/kvm/guest/a64.ts):
 * MOVZ/MOVK, MOV (ORR), ADD (imm), LDR/STR (64-bit unsigned offset), B, RET, HVC, SMC, MRS, MSR,
 * ERET, NOP, ISB, WFI. Anything else is an UNDEF taken to the guest's vector (VBAR_EL1 + 0x200,
 * ESR EC 0x00 IL=1), as hardware would. EL1, MMU off: virtual = physical.
 */
import { COPROC, makeId } from "../../regs/id.js";
import type { KvmExit } from "../types.js";
import type { SimVcpu } from "./kernel.js";
import { guestSysreg } from "./kernel.js";

const X = Array.from({ length: 31 }, (_, n) => makeId("U64", COPROC.core, n * 2));
const SP = makeId("U64", COPROC.core, 62);
const PC = makeId("U64", COPROC.core, 64);
const PSTATE = makeId("U64", COPROC.core, 66);
const SP_EL1 = makeId("U64", COPROC.core, 68);
const ELR_EL1 = makeId("U64", COPROC.core, 70);
const SPSR_EL1 = makeId("U64", COPROC.core, 72);
const sys = (op0: number, op1: number, crn: number, crm: number, op2: number) =>
  makeId("U64", COPROC.sysreg, (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2);
const VBAR = sys(3, 0, 12, 0, 0);
const ESR = sys(3, 0, 5, 2, 0);
const FAR = sys(3, 0, 6, 0, 0);
const M64 = (1n << 64n) - 1n;

export const ESR_EC_UNKNOWN = 0x00;
export const ESR_IL = 1n << 25n;

function getX(v: SimVcpu, r: number, spIs31 = false): bigint {
  if (r === 31) return spIs31 ? ((v.state.get(SP_EL1) as bigint) ?? 0n) : 0n;
  return (v.state.get(X[r]!) as bigint) ?? 0n;
}
function setX(v: SimVcpu, r: number, val: bigint, spIs31 = false): void {
  if (r === 31) {
    if (spIs31) v.state.set(SP_EL1, val & M64);
    return;
  }
  v.state.set(X[r]!, val & M64);
}

/** Takes a synchronous exception to EL1 (current EL, SPx: VBAR + 0x200). */
export function takeException(v: SimVcpu, esr: bigint, far = 0n): void {
  const pc = v.state.get(PC) as bigint;
  v.state.set(ELR_EL1, pc);
  v.state.set(SPSR_EL1, (v.state.get(PSTATE) as bigint) ?? 0x3c5n);
  v.state.set(ESR, esr);
  v.state.set(FAR, far);
  v.state.set(PSTATE, 0x3c5n);
  v.state.set(PC, (((v.state.get(VBAR) as bigint) ?? 0n) & ~0x7ffn) + 0x200n);
}

const undef = (v: SimVcpu) => takeException(v, ESR_IL | BigInt(ESR_EC_UNKNOWN << 26));

function sysregRead(
  v: SimVcpu,
  e: { op0: number; op1: number; crn: number; crm: number; op2: number },
): bigint | "undef" {
  // Registers the probe's handler uses that KVM keeps in the core/EL1 context.
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 4 && e.crm === 0 && e.op2 === 1)
    return (v.state.get(ELR_EL1) as bigint) ?? 0n;
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 4 && e.crm === 0 && e.op2 === 0)
    return (v.state.get(SPSR_EL1) as bigint) ?? 0n;
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 4 && e.crm === 2 && e.op2 === 2) return 1n << 2n; // CurrentEL = EL1
  return guestSysreg(v, e);
}

function sysregWrite(
  v: SimVcpu,
  e: { op0: number; op1: number; crn: number; crm: number; op2: number },
  val: bigint,
): boolean {
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 4 && e.crm === 0 && e.op2 === 1) v.state.set(ELR_EL1, val);
  else if (e.op0 === 3 && e.op1 === 0 && e.crn === 4 && e.crm === 0 && e.op2 === 0)
    v.state.set(SPSR_EL1, val);
  else if (e.op0 === 3 && e.op1 === 0 && e.crn === 0)
    return false; // ID registers are read-only: UNDEF
  else v.state.set(sys(e.op0, e.op1, e.crn, e.crm, e.op2), val);
  return true;
}

/** Runs until an exit to userspace, or `budget` instructions (then an INTR exit, like a signal). */
export function step(v: SimVcpu, budget: number): KvmExit {
  const vm = v.vm;
  for (let n = 0; n < budget; n++) {
    const pc = v.state.get(PC) as bigint;
    const ram = vm.ram(pc, 4);
    if (!ram) {
      // Instruction fetch from no memory: KVM reports an external abort -> here an INTERNAL-like exit.
      return { reason: "INTERNAL_ERROR", code: 17, suberror: 1, data: [pc] };
    }
    const m = ram.mem;
    const o = ram.off;
    const w = (m[o]! | (m[o + 1]! << 8) | (m[o + 2]! << 16) | (m[o + 3]! << 24)) >>> 0;
    const next = pc + 4n;
    const rd = w & 31;
    if ((w & 0xff800000) >>> 0 === 0xd2800000 || (w & 0xff800000) >>> 0 === 0xf2800000) {
      // MOVZ / MOVK (64-bit)
      const hw = BigInt((w >>> 21) & 3) * 16n;
      const imm = BigInt((w >>> 5) & 0xffff) << hw;
      const keep = (w & 0xff800000) >>> 0 === 0xf2800000 ? getX(v, rd) & ~(0xffffn << hw) : 0n;
      setX(v, rd, keep | imm);
    } else if ((w & 0xffe0ffe0) >>> 0 === 0xaa0003e0) {
      setX(v, rd, getX(v, (w >>> 16) & 31)); // MOV Xd, Xm
    } else if ((w & 0xff800000) >>> 0 === 0x91000000) {
      const sh = (w >>> 22) & 1 ? 12n : 0n; // ADD Xd|SP, Xn|SP, #imm
      setX(v, rd, getX(v, (w >>> 5) & 31, true) + (BigInt((w >>> 10) & 0xfff) << sh), true);
    } else if ((w & 0xffc00000) >>> 0 === 0xf9000000 || (w & 0xffc00000) >>> 0 === 0xf9400000) {
      const load = (w & 0xffc00000) >>> 0 === 0xf9400000;
      const addr = (getX(v, (w >>> 5) & 31, true) + BigInt(((w >>> 10) & 0xfff) * 8)) & M64;
      const r = vm.ram(addr, 8);
      if (r) {
        if (load) {
          let x = 0n;
          for (let i = 7; i >= 0; i--) x = (x << 8n) | BigInt(r.mem[r.off + i]!);
          setX(v, rd, x);
        } else {
          let x = getX(v, rd);
          for (let i = 0; i < 8; i++, x >>= 8n) r.mem[r.off + i] = Number(x & 0xffn);
        }
      } else {
        // Stage-2 fault on no memslot with a valid ISV: KVM_EXIT_MMIO (io_mem_abort); PC moves on.
        v.state.set(PC, next);
        const data = new Uint8Array(8);
        if (!load) {
          let x = getX(v, rd);
          for (let i = 0; i < 8; i++, x >>= 8n) data[i] = Number(x & 0xffn);
        } else v.mmioPending = { rt: rd, len: 8 };
        return { reason: "MMIO", code: 6, address: addr, isWrite: !load, length: 8, data };
      }
    } else if ((w & 0xfc000000) >>> 0 === 0x14000000) {
      const off = BigInt.asIntN(26, BigInt(w & 0x3ffffff)) * 4n;
      v.state.set(PC, (pc + off) & M64);
      continue;
    } else if ((w & 0xfffffc1f) >>> 0 === 0xd65f0000) {
      v.state.set(PC, getX(v, (w >>> 5) & 31));
      continue;
    } else if ((w & 0xffe0001f) >>> 0 === 0xd4000002 || (w & 0xffe0001f) >>> 0 === 0xd4000003) {
      const isSmc = (w & 3) === 3;
      const imm = (w >>> 5) & 0xffff;
      v.state.set(PC, next); // the HVC/SMC trap returns past the instruction (kvm_incr_pc for SMC)
      const ctx = vm.model;
      if (isSmc && (!ctx.smcccFilter || imm !== 0)) {
        // handle_smc: 5.10/6.1 always x0 = ~0; 6.4+ only for a nonzero immediate
        setX(v, 0, M64);
        continue;
      }
      const r = v.smccc([getX(v, 0), getX(v, 1), getX(v, 2), getX(v, 3)]);
      if (r.kind === "off") return v.systemEvent("SHUTDOWN");
      if (r.kind === "reset") return v.systemEvent("RESET");
      r.x.forEach((x, i) => setX(v, i, x));
      continue;
    } else if ((w & 0xfff00000) >>> 0 === 0xd5300000 || (w & 0xfff00000) >>> 0 === 0xd5100000) {
      const e = {
        op0: 2 + ((w >>> 19) & 1),
        op1: (w >>> 16) & 7,
        crn: (w >>> 12) & 15,
        crm: (w >>> 8) & 15,
        op2: (w >>> 5) & 7,
      };
      if ((w >>> 21) & 1) {
        const val = sysregRead(v, e);
        if (val === "undef") {
          undef(v);
          continue;
        }
        setX(v, rd, val);
      } else if (!sysregWrite(v, e, getX(v, rd))) {
        undef(v);
        continue;
      }
    } else if (w === 0xd69f03e0) {
      v.state.set(PC, (v.state.get(ELR_EL1) as bigint) ?? 0n);
      v.state.set(PSTATE, (v.state.get(SPSR_EL1) as bigint) ?? 0x3c5n);
      continue;
    } else if (w === 0xd503201f || w === 0xd5033fdf || w === 0xd503207f) {
      // NOP, ISB, WFI (no interrupts: WFI returns at once)
    } else {
      undef(v);
      continue;
    }
    v.state.set(PC, next);
  }
  return { reason: "INTR", code: 10 };
}

export { SP, PC, PSTATE };
