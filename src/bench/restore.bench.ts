/**
 * Save + restore + verify of a 64-vCPU VM on the simulator: a VM with 7.2's defaults on Cortex-A72
 * (every vCPU initialised, never run) is saved (KVM_GET_REG_LIST + KVM_GET_ONE_REG of every register),
 * then restored on a second 7.2 host (checkAbi against its profile, KVM_CREATE_VM/VCPU/INIT, every
 * register written in the order of src/vm/write-order.ts, every one read back and compared). The profile is probed once
 * beforehand and not timed. Best of three rounds. `node dist/bench/restore.bench.js` runs it alone.
 */
import { performance } from "node:perf_hooks";
import { openSimKvm } from "../kvm/sim/index.js";
import { probe } from "../probe/probe.js";
import { createDefaultVm, restore, save } from "../vm/vm.js";

const VCPUS = 64;

export function runRestoreBench(): string[] {
  const gen = "7.2";
  const cpu = "cortex-a72";
  const profile = probe(openSimKvm({ generation: gen, cpu }), { configs: ["psci-0.2"], cpuLabel: cpu });
  let best = { save: Infinity, restore: Infinity, total: Infinity, regs: 0, written: 0 };
  for (let round = 0; round < 3; round++) {
    const src = openSimKvm({ generation: gen, cpu });
    const vm = createDefaultVm(src, { vcpus: VCPUS, cpuLabel: cpu });
    const t0 = performance.now();
    const snapshot = save(vm, { createdAt: false });
    const t1 = performance.now();
    const r = restore(snapshot, openSimKvm({ generation: gen, cpu }), { profile, cpuLabel: cpu });
    const t2 = performance.now();
    const regs = snapshot.vcpus.reduce((n, v) => n + v.regs.size, 0);
    if (t2 - t0 < best.total)
      best = { save: t1 - t0, restore: t2 - t1, total: t2 - t0, regs, written: r.report.written };
    r.vm.vm.destroy();
    src.close();
  }
  const rate = (n: number, ms: number) => `${(((n / ms) * 1000) / 1e3).toFixed(1)} k registers/s`;
  return [
    `restore bench: ${VCPUS}-vCPU VM, ${gen} ${cpu} -> ${gen} ${cpu}, ${best.regs} registers (${best.regs / VCPUS} per vCPU)`,
    `${"save (GET_REG_LIST + GET_ONE_REG)".padEnd(48)} ${best.save.toFixed(1)} ms  ${rate(best.regs, best.save)}`,
    `${"restore (check + SET_ONE_REG + read-back)".padEnd(48)} ${best.restore.toFixed(1)} ms  ${rate(best.written, best.restore)}`,
    `${"save + restore + verify".padEnd(48)} ${best.total.toFixed(1)} ms`,
  ];
}
