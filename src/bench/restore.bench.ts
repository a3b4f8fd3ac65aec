/**
 * Save and restore on the simulator at 1, 8, 64 and 512 vCPUs: a VM with 7.2's defaults on Cortex-A72
 * (every vCPU initialised, never run) is saved (KVM_GET_REG_LIST + KVM_GET_ONE_REG of every register),
 * then restored on a second 7.2 host (checkAbi against its profile, KVM_CREATE_VM/VCPU/INIT, every
 * register written in the order of src/vm/write-order.ts, every one read back and compared). The
 * profile is probed once beforehand and not timed; creating the source VM is not timed either.
 *
 * The baselines, measured in the same run on a 1-vCPU VM of the same host: a raw KVM_GET_ONE_REG loop
 * over every listed register (what save cannot do with less), and a raw KVM_SET_ONE_REG + KVM_GET_ONE_REG
 * loop writing every register its own value and reading it back (what restore cannot do with less).
 * Each figure is registers/s and ns per register, its ratio to its baseline, and how the cost per
 * register at 512 vCPUs compares with 1 vCPU (1.00x: flat). Under each restore, the part of it that is
 * checkAbi and the snapshot's validation (src/check, src/formats), timed alone on the same snapshot.
 * `node dist/bench/restore.bench.js` runs it alone.
 */
import { pathToFileURL } from "node:url";
import { openSimKvm } from "../kvm/sim/index.js";
import { getRegList } from "../kvm/index.js";
import type { KvmVcpu, RegValue } from "../kvm/index.js";
import type { RegId } from "../regs/index.js";
import type { Snapshot } from "../formats/snapshot.js";
import { validateSnapshot } from "../formats/snapshot.js";
import { checkAbi } from "../check/check.js";
import { probe } from "../probe/probe.js";
import { createDefaultVm, restore, save } from "../vm/vm.js";
import { bench } from "./harness.js";
import type { BenchResult } from "./harness.js";

const GEN = "7.2";
const CPU = "cortex-a72";
const VCPU_COUNTS = [1, 8, 64, 512];

function line(label: string, r: BenchResult, baseline?: BenchResult): string {
  const perReg = 1e9 / r.opsPerSecond;
  const rate = `${(r.opsPerSecond / 1e6).toFixed(2)} M registers/s`;
  const vs = baseline ? `  ${(baseline.opsPerSecond / r.opsPerSecond).toFixed(2)}x the baseline's time` : "";
  return `${label.padEnd(48)} ${rate.padStart(17)}  ${perReg.toFixed(0).padStart(5)} ns/register${vs}`;
}

/** The raw loops over one vCPU's registers: every listed id read; every id written its value and read back. */
function baselines(vcpu: KvmVcpu): { get: BenchResult; setGet: BenchResult; perVcpu: number } {
  const ids: RegId[] = getRegList(vcpu);
  const values: RegValue[] = ids.map((id) => vcpu.getOneReg(id));
  let sink = 0;
  const get = bench("raw GET_ONE_REG", ids.length, () => {
    for (const id of ids) if (typeof vcpu.getOneReg(id) === "bigint") sink++;
  });
  const setGet = bench("raw SET_ONE_REG + GET_ONE_REG", ids.length, () => {
    for (let i = 0; i < ids.length; i++) {
      vcpu.setOneReg(ids[i]!, values[i]!);
      if (typeof vcpu.getOneReg(ids[i]!) === "bigint") sink++;
    }
  });
  if (sink === -1) console.log(sink); // keeps the loops from being optimised away
  return { get, setGet, perVcpu: ids.length };
}

export function runRestoreBench(): string[] {
  const profile = probe(openSimKvm({ generation: GEN, cpu: CPU }), { configs: ["psci-0.2"], cpuLabel: CPU });
  const one = createDefaultVm(openSimKvm({ generation: GEN, cpu: CPU }), { vcpus: 1, cpuLabel: CPU });
  const base = baselines(one.vcpus[0]!.vcpu);
  one.vm.destroy();

  const saves: BenchResult[] = [];
  const restores: BenchResult[] = [];
  const checks: BenchResult[] = [];
  for (const n of VCPU_COUNTS) {
    const source = createDefaultVm(openSimKvm({ generation: GEN, cpu: CPU }), { vcpus: n, cpuLabel: CPU });
    let snapshot: Snapshot = save(source, { createdAt: false });
    const regs = snapshot.vcpus.reduce((sum, v) => sum + v.regs.size, 0);
    // Fewer timed calls for the large VMs: the harness keeps the best of three rounds of >= minMs each.
    const minMs = n >= 64 ? 600 : 300;
    saves.push(
      bench(`save ${n} vCPUs`, regs, () => (snapshot = save(source, { createdAt: false })), "", minMs),
    );
    let written = 0;
    restores.push(
      bench(
        `restore ${n} vCPUs`,
        regs,
        () => {
          // A fresh destination host each time: a host keeps every VM it created until it is closed.
          const destination = openSimKvm({ generation: GEN, cpu: CPU });
          const r = restore(snapshot, destination, { profile, cpuLabel: CPU });
          written = r.report.written;
          destination.close();
        },
        "",
        minMs,
      ),
    );
    if (written !== regs) throw new Error(`restore ${n} vCPUs wrote ${written} of ${regs} registers`);
    checks.push(
      bench(
        `  of which checkAbi + validateSnapshot`,
        regs,
        () => {
          validateSnapshot(snapshot);
          checkAbi(snapshot, profile);
        },
        "",
        minMs,
      ),
    );
    source.vm.destroy();
  }
  const flat = (rs: BenchResult[]) => (rs[0]!.opsPerSecond / rs.at(-1)!.opsPerSecond).toFixed(2);
  return [
    `simulator save and restore: ${GEN} ${CPU} -> ${GEN} ${CPU}, ${base.perVcpu} registers per vCPU (the baselines: one vCPU, same run)`,
    line("baseline: raw GET_ONE_REG, every register", base.get),
    line("baseline: raw SET_ONE_REG + GET_ONE_REG", base.setGet),
    ...saves.map((r) => line(`${r.name} (GET_REG_LIST + GET_ONE_REG)`, r, base.get)),
    ...restores.flatMap((r, i) => [
      line(`${r.name} (check + SET + read-back)`, r, base.setGet),
      `${line(checks[i]!.name, checks[i]!)}  ${((r.opsPerSecond / checks[i]!.opsPerSecond) * 100).toFixed(0)}%`,
    ]),
    `${"save ns/register, 512 vCPUs / 1 vCPU".padEnd(48)} ${flat(saves)}x`,
    `${"restore ns/register, 512 vCPUs / 1 vCPU".padEnd(48)} ${flat(restores)}x`,
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href)
  for (const l of runRestoreBench()) console.log(l);
