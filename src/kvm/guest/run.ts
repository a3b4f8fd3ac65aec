/**
 * Runs the probe program on a vCPU through the hypervisor interface (any backend): loads it into a
 * RAM slot, points PC at it, and answers KVM_RUN exits until the program is done, recording every
 * MMIO access; then decodes the record. A read (a load item's address no in-kernel device handles)
 * is answered with zeros and recorded, so decodeProbe can report that load as "unhandled".
 */
import { KvmError } from "../errors.js";
import { completeHypercall, setPc } from "../helpers.js";
import type { HypercallExit, KvmVcpu, KvmVm } from "../types.js";
import { fromLeBytes } from "../values.js";
import { decodeProbe } from "./decode.js";
import type { MmioRecord, ProbeEnd, ProbeResult } from "./decode.js";
import { DONE_MAGIC, MMIO_OFFSETS } from "./program.js";
import type { ProbeProgram } from "./program.js";
import { SMCCC_RET } from "./smccc.js";

export interface RunProbeOptions {
  /** Memory slot for the program's RAM (default 0). The slot must be free. */
  slot?: number;
  /** Stop after this many exits (default 20000; the default program needs well under 1000). */
  maxExits?: number;
  /**
   * Answers an SMCCC call forwarded to userspace by the SMCCC filter (KVM_EXIT_HYPERCALL): the values
   * for x0..x3. Default: [SMCCC_RET_NOT_SUPPORTED].
   */
  onHypercall?: (exit: HypercallExit, vcpu: KvmVcpu) => readonly bigint[];
}

export interface ProbeRun {
  result: ProbeResult;
  records: MmioRecord[];
  /** The HYPERCALL exits seen (calls the SMCCC filter forwarded to userspace). */
  hypercalls: HypercallExit[];
  exits: number;
}

/**
 * Runs `program` on `vcpu`, which must be ready to run as an AArch64 EL1 vCPU: KVM_ARM_VCPU_INIT-ed
 * without EL1_32BIT, HAS_EL2 or POWER_OFF (a powered-off vCPU waits in KVM_RUN for a CPU_ON that
 * never comes), finalized if SVE, and with the PMU initialised if PMU_V3
 * (helpers.initPmu). Errors of the setup (memory slot, PC) throw; an error of KVM_RUN ends the run
 * and is reported in result.end. Call it once per VM (it takes the slot and the program's GPAs).
 */
export function runProbeProgram(
  vm: KvmVm,
  vcpu: KvmVcpu,
  program: ProbeProgram,
  opts: RunProbeOptions = {},
): ProbeRun {
  const slot = opts.slot ?? 0;
  const maxExits = opts.maxExits ?? 20000;
  vm.setUserMemoryRegion({ slot, guestPhysAddr: program.ramBase, size: program.ramSize });
  vm.writeGuestMemory(slot, 0, program.bytes);
  setPc(vcpu, program.entry);

  const doneAddress = program.mmioBase + BigInt(MMIO_OFFSETS.DONE);
  const records: MmioRecord[] = [];
  const hypercalls: HypercallExit[] = [];
  let end: ProbeEnd | undefined;
  let exits = 0;
  while (!end) {
    if (exits >= maxExits) {
      end = { kind: "exit-limit", exits };
      break;
    }
    let exit;
    try {
      exit = vcpu.run();
    } catch (e) {
      if (!(e instanceof KvmError)) throw e;
      end = { kind: "error", op: e.op, errno: e.errno, message: e.message };
      break;
    }
    exits++;
    switch (exit.reason) {
      case "MMIO": {
        // A read gets zeros: no device answers at an address KVM left to userspace.
        const data = exit.isWrite ? exit.data : new Uint8Array(Math.min(exit.length, 8));
        const value = fromLeBytes(data.subarray(0, Math.min(exit.length, 8)));
        records.push({ address: exit.address, isWrite: exit.isWrite, length: exit.length, value });
        if (!exit.isWrite) vcpu.setMmioReadData(data);
        else if (exit.address === doneAddress && value === DONE_MAGIC) end = { kind: "done" };
        break;
      }
      case "HYPERCALL": {
        hypercalls.push(exit);
        completeHypercall(vcpu, opts.onHypercall?.(exit, vcpu) ?? [SMCCC_RET.NOT_SUPPORTED]);
        break;
      }
      case "SYSTEM_EVENT":
        end = { kind: "system-event", event: exit.event, type: exit.type, data: exit.data };
        break;
      case "INTR":
        break;
      default:
        end = { kind: "exit", reason: exit.reason, code: exit.code };
    }
  }
  return { result: decodeProbe(program, records, end), records, hypercalls, exits };
}
