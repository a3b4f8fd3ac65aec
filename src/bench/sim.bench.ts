/** The simulated kernel: GET/SET_ONE_REG throughput, and a whole `guestabi probe` of one kernel model. */
import { probe } from "../probe/probe.js";
import { FW_REGS } from "../kvm/uapi.js";
import { SimSystem } from "../kvm/sim/index.js";
import { parseRegName } from "../regs/index.js";
import { bench, formatRate, ratio } from "./harness.js";

export function runSimBench(): string[] {
  const vm = new SimSystem({ generation: "7.2", cpu: "cortex-a72" }).createVm();
  const vcpu = vm.createVcpu(0);
  vcpu.init({ target: vm.preferredTarget().target, features: [2] }); // PSCI_0_2
  const ids = ["ID_AA64PFR0_EL1", "KVM_REG_ARM_PSCI_VERSION", "x0", "SCTLR_EL1"].map(parseRegName);
  const x0 = parseRegName("x0");
  let sink = 0n;
  const get = bench("sim KVM_GET_ONE_REG (7.2, cortex-a72)", 4000, () => {
    for (let i = 0; i < 4000; i++) sink ^= vcpu.getOneReg(ids[i & 3]!) as bigint;
  });
  const set = bench("sim KVM_SET_ONE_REG x0", 4000, () => {
    for (let i = 0; i < 4000; i++) vcpu.setOneReg(x0, BigInt(i & 0xff));
  });
  const setFw = bench("sim KVM_SET_ONE_REG PSCI_VERSION (same value)", 4000, () => {
    const v = vcpu.getOneReg(FW_REGS.PSCI_VERSION);
    for (let i = 0; i < 4000; i++) vcpu.setOneReg(FW_REGS.PSCI_VERSION, v);
  });
  const probes = bench(
    "sim whole probe (7.2, cortex-a72)",
    1,
    () => void probe(new SimSystem({ generation: "7.2", cpu: "cortex-a72" }), { cpuLabel: "cortex-a72" }),
    "probes/s",
    1000,
  );
  if (sink === -1n) console.log(sink);
  return [
    "simulated kernel",
    ...[get, set, setFw, probes].map(formatRate),
    ratio("GET / SET_ONE_REG", get, set),
    `${"one whole probe".padEnd(48)} ${(1000 / probes.opsPerSecond).toFixed(0)} ms`,
  ];
}
