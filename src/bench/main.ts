/** npm run bench: every benchmark, printed as figures and ratios. No test asserts on timing. */
import { runCheckBench } from "./check.bench.js";
import { runFleetBench } from "./fleet.bench.js";
import { runKvmBench } from "./kvm.bench.js";
import { runRegsBench } from "./regs.bench.js";
import { runRestoreBench } from "./restore.bench.js";
import { runSimBench } from "./sim.bench.js";
import { runStartupBench } from "./startup.bench.js";

for (const run of [
  runRegsBench,
  runSimBench,
  runCheckBench,
  runRestoreBench,
  runFleetBench,
  runStartupBench,
  runKvmBench,
]) {
  for (const line of await run()) console.log(line);
  console.log();
}
