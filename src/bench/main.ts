/** npm run bench: every benchmark, printed as figures and ratios. No test asserts on timing. */
import { runRegsBench } from "./regs.bench.js";

for (const line of runRegsBench()) console.log(line);
