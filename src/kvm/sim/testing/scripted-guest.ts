/**
 * Test helper: a guest CPU whose "hypervisor" is the test. It runs guest code on the simulator's A64
 * interpreter (src/kvm/sim/interp.ts, the project's only one), with firmware calls and system register
 * reads answered from the test's configuration instead of from a modelled kernel. For tests of code that
 * drives a guest and should not depend on any kernel's rules (e.g. a hand-written KvmSystem double);
 * anything that wants KVM's behaviour uses the simulator (src/kvm/sim) instead.
 *
 * State is plain fields: `x` (x0..x30), `pc`, `ram` (one region). Exceptions follow the interpreter:
 * an UNDEF goes to VBAR_EL1 + 0x200 with ESR_EL1 = 0x02000000 and ELR_EL1 = the instruction. A store or
 * load outside `ram` is an MMIO exit; the access completes (a load reads zeros) at the next run().
 */
import type { KvmExit } from "../../types.js";
import { execute } from "../interp.js";
import type { A64Machine, A64StateReg, SysregEnc, TrapOutcome } from "../interp.js";

/** x0..x3 results, a system event ending the run (1 = SHUTDOWN, else RESET), or UNDEF. */
export type FirmwareAnswer = bigint[] | { systemEvent: number } | "undef";

export interface ScriptedGuestConfig {
  /** SMCCC calls through HVC (and SMC when smc is "firmware"). */
  firmware: (fid: number, args: [bigint, bigint, bigint], conduit: "hvc" | "smc") => FirmwareAnswer;
  /** What an SMC does: go to firmware (6.4+), return -1 in x0 (5.10..6.3), or UNDEF. */
  smc: "firmware" | "minus1" | "undef";
  /** MRS results by "op0.op1.crn.crm.op2"; other encodings UNDEF (reads and writes). */
  sysregs: Map<string, bigint>;
  /** Instructions per run() before it throws (default 100000). */
  maxSteps?: number;
}

const M64 = (1n << 64n) - 1n;
const key = (e: SysregEnc) => `${e.op0}.${e.op1}.${e.crn}.${e.crm}.${e.op2}`;

export class ScriptedGuest {
  /** x0..x30 (index 31 unused). */
  x = new Array<bigint>(32).fill(0n);
  pc = 0n;
  ram: { base: bigint; bytes: Uint8Array } | undefined;
  /** Instructions executed so far. */
  steps = 0;
  readonly sys: Record<A64StateReg, bigint> = {
    PSTATE: 0x3c5n, // EL1h, DAIF masked: what KVM_ARM_VCPU_INIT gives
    SP_EL0: 0n,
    SP_EL1: 0n,
    ELR_EL1: 0n,
    SPSR_EL1: 0n,
    ESR_EL1: 0n,
    FAR_EL1: 0n,
    VBAR_EL1: 0n,
  };
  private pending: { rt: number; isWrite: boolean } | undefined;
  private readonly machine: A64Machine;

  constructor(private readonly cfg: ScriptedGuestConfig) {
    const call = (conduit: "hvc" | "smc"): TrapOutcome => {
      const ans = cfg.firmware(
        Number(this.x[0]! & 0xffffffffn),
        [this.x[1]!, this.x[2]!, this.x[3]!],
        conduit,
      );
      if (ans === "undef") return { kind: "undef" };
      if (Array.isArray(ans)) {
        ans.forEach((v, i) => (this.x[i] = v & M64));
        return { kind: "continue" };
      }
      const shutdown = ans.systemEvent === 1;
      return {
        kind: "exit",
        exit: {
          reason: "SYSTEM_EVENT",
          code: 24,
          type: ans.systemEvent,
          event: shutdown ? "SHUTDOWN" : "RESET",
          data: [0n],
          flags: 0n,
        },
      };
    };
    this.machine = {
      x: (n) => this.x[n]!,
      setX: (n, v) => void (this.x[n] = v & M64),
      pc: () => this.pc,
      setPc: (v) => void (this.pc = v & M64),
      get: (r) => this.sys[r],
      set: (r, v) => void (this.sys[r] = v & M64),
      ram: (gpa, len) => {
        const r = this.ram;
        if (!r || gpa < r.base || gpa + BigInt(len) > r.base + BigInt(r.bytes.length)) return undefined;
        return { mem: r.bytes, off: Number(gpa - r.base) };
      },
      hvc: () => call("hvc"),
      smc: () => {
        if (cfg.smc === "undef") return { kind: "undef" };
        if (cfg.smc === "minus1") {
          this.x[0] = M64;
          return { kind: "continue" };
        }
        return call("smc");
      },
      mrs: (e) => cfg.sysregs.get(key(e)) ?? "undef",
      msr: () => false,
      mmio: (a) => {
        this.pending = { rt: a.rt, isWrite: a.isWrite };
        return {
          reason: "MMIO",
          code: 6,
          address: a.address,
          isWrite: a.isWrite,
          length: a.len,
          data: a.isWrite ? a.data.slice(0, a.len) : new Uint8Array(a.len),
        };
      },
      fetchAbort: (pc) => {
        throw new Error(`scripted guest: pc 0x${pc.toString(16)} outside RAM`);
      },
      wfi: () => undefined,
    };
  }

  /** Runs until an exit; throws past `maxSteps` instructions or on a fetch outside RAM. */
  run(): KvmExit {
    if (!this.ram) throw new Error("scripted guest: no RAM");
    if (this.pending) {
      if (!this.pending.isWrite && this.pending.rt !== 31) this.x[this.pending.rt] = 0n;
      this.pc = (this.pc + 4n) & M64;
      this.pending = undefined;
    }
    for (;;) {
      if (++this.steps > (this.cfg.maxSteps ?? 100000)) throw new Error("scripted guest: step limit");
      const exit = execute(this.machine);
      if (exit) return exit;
    }
  }
}
