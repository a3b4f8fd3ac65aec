/** Simulator benchmarks: GET/SET_ONE_REG throughput and one whole probe. The lead wires runSimBench into src/bench/main.ts. */
import { FW_REGS } from "../uapi.js";
import { sysregId } from "../../regs/id.js";
import { SimSystem } from "./kernel.js";
import { guestAbiFingerprint } from "./fingerprint.js";

export function runSimBench(): string[] {
  const sys = new SimSystem({ generation: "7.2", cpu: "cortex-a72" });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  v.init({ target: 5, features: [2] });
  const ids = [sysregId(3, 0, 0, 4, 0), FW_REGS.PSCI_VERSION, 0x6030000000100000n, sysregId(3, 0, 1, 0, 0)];
  const n = 400_000;
  let t = performance.now();
  for (let i = 0; i < n; i++) v.getOneReg(ids[i & 3]!);
  const get = n / ((performance.now() - t) / 1000);
  t = performance.now();
  const x0 = 0x6030000000100000n;
  for (let i = 0; i < n; i++) v.setOneReg(x0, BigInt(i & 0xff));
  const set = n / ((performance.now() - t) / 1000);
  t = performance.now();
  guestAbiFingerprint(new SimSystem({ generation: "7.2", cpu: "max" }));
  const probe = performance.now() - t;
  return [
    `sim GET_ONE_REG ${(get / 1e6).toFixed(2)} M ops/s`,
    `sim SET_ONE_REG ${(set / 1e6).toFixed(2)} M ops/s`,
    `sim whole probe (7.2, max) ${probe.toFixed(1)} ms`,
  ];
}
