/**
 * A simulator CPU model learned from a Firecracker fingerprint or template dump: the register values it
 * records for vCPU 0 feed the simulator's learnCpuModel (src/kvm/sim/learn-cpu.ts), so that a user's own
 * host drives `SimSystem`. Only fully specified registers count: a bit a template leaves as x is KVM's
 * value, which the file does not know.
 */
import type { RegId } from "../regs/index.js";
import { regSizeBytes } from "../kvm/index.js";
import { learnCpuModel } from "../kvm/sim/index.js";
import type { LearnedCpuModel } from "../kvm/sim/index.js";
import { FirecrackerFileError } from "./firecracker-evidence.js";
import type { FirecrackerEvidence } from "./firecracker-evidence.js";

/** Learns the CPU model `name` from `evidence`, read from `source` (named in errors and in the model). */
export function cpuModelFromFirecracker(
  evidence: FirecrackerEvidence,
  name: string,
  source: string,
): LearnedCpuModel {
  const regs = new Map<RegId, bigint>();
  for (const r of evidence.regs) {
    const full = (1n << BigInt(regSizeBytes(r.id) * 8)) - 1n;
    if ((r.mask & full) === full) regs.set(r.id, r.value);
  }
  const host = evidence.host ? `, kernel ${evidence.host.kernelRelease}` : "";
  try {
    return learnCpuModel(name, `learned from Firecracker ${evidence.kind} ${source}${host}`, regs);
  } catch (e) {
    if (e instanceof RangeError) throw new FirecrackerFileError(`${source}: ${e.message}`);
    throw e;
  }
}
