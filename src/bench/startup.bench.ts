/**
 * Start-up of the guestabi command: wall time of `guestabi --help`, `--version`, `decode ID` and a group's
 * `inventory --help` as new processes, against `node -e 0` measured in the same run (rounds interleaved,
 * so that the machine's other load falls on all of them alike). Goal (issue 15): `--help` and `decode
 * ID` within 1.5x of `node -e 0`.
 *
 * Alone, it may time other builds' main.js beside this one's, in the same interleaved rounds (the
 * before/after of a change):
 *   node dist/bench/startup.bench.js [OTHER/dist/cli/main.js ...]
 */
import { spawnSync } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";

const CLI = fileURLToPath(new URL("../cli/main.js", import.meta.url));
const ROUNDS = 15;
const GOAL = 1.5;

const COMMANDS: string[][] = [
  ["--help"],
  ["--version"],
  ["decode", "0x603000000013c020"],
  ["inventory", "--help"],
];

interface Run {
  label: string;
  args: string[];
}

function timeRun(args: string[]): number {
  const start = performance.now();
  const r = spawnSync(process.execPath, args, { stdio: "ignore" });
  if (r.status !== 0) throw new Error(`node ${args.join(" ")}: exit code ${r.status}`);
  return performance.now() - start;
}

const median = (ms: number[]) => [...ms].sort((a, b) => a - b)[Math.floor(ms.length / 2)]!;

/** `clis`: the main.js files to time, this build's first; each is labelled by its path after the first. */
export function runStartupBench(clis: string[] = [CLI]): string[] {
  const runs: Run[] = [
    { label: "node -e 0", args: ["-e", "0"] },
    ...clis.flatMap((cli, k) =>
      COMMANDS.map((c) => ({
        label: `guestabi ${c.join(" ")}${k === 0 ? "" : ` (${cli})`}`,
        args: [cli, ...c],
      })),
    ),
  ];
  const times = runs.map(() => [] as number[]);
  for (const r of runs) timeRun(r.args); // warm the file cache
  for (let round = 0; round < ROUNDS; round++) runs.forEach((r, i) => times[i]!.push(timeRun(r.args)));
  const base = median(times[0]!);
  return [
    `start-up, wall time of a new process (median of ${ROUNDS} interleaved runs; fastest in brackets)`,
    ...runs.map((r, i) => {
      const m = median(times[i]!);
      const figure = `${m.toFixed(0)} ms (${Math.min(...times[i]!).toFixed(0)})`;
      const vsNode = i === 0 ? "" : `${(m / base).toFixed(2)}x node -e 0 (goal ${GOAL}x)`;
      return `${r.label.padEnd(48)} ${figure.padEnd(16)}${vsNode}`.trimEnd();
    }),
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href)
  for (const l of runStartupBench([CLI, ...process.argv.slice(2)])) console.log(l);
