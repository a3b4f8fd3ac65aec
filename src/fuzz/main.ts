/**
 * The long fuzz run of every reader (`npm run fuzz`): ≥ 1 M mutated inputs split over the targets of
 * targets.ts, run in worker threads. Prints per target the inputs, what was accepted and rejected,
 * crashes, hangs (inputs over the per-input budget, or stopped by the watchdog) and the slowest input,
 * then inputs/s and the seed; exits 1 on any crash or hang.
 *
 *   npm run fuzz -- [inputs] [--seed N] [--jobs N] [--budget-ms N] [--kill-ms N] [--target NAME]
 *   npm run fuzz -- --replay TARGET:INDEX [--seed N]     one input again: its text and what the reader does
 */
import { Worker } from "node:worker_threads";
import { emptyReport, makeInput } from "../formats/fuzz/engine.js";
import type { FuzzTarget, TargetReport } from "../formats/fuzz/engine.js";
import { allTargets } from "./targets.js";
import type { WorkerJob } from "./worker.js";

/** Each target's share of the inputs: the fast text readers get most, whole profiles the fewest. */
const SHARES: Record<string, number> = {
  profile: 0.002,
  template: 0.015,
  "restore-trial": 0.004,
  "snapshot-binary": 0.2,
  "snapshot-json": 0.015,
  fleet: 0.015,
  "api-body": 0.03,
  "stored-profile-head": 0.003,
  "reg-name": 0.2,
  "reg-id": 0.214,
  "firecracker-import": 0.002,
  // The VMM readers: 100,000 inputs each in the default million.
  "qemu-stream": 0.1,
  "firecracker-snapshot": 0.1,
  "cloud-hypervisor-state": 0.1,
};
const CHUNK = 100_000;
const KEEP = 20;

interface Options {
  inputs: number;
  seed: number;
  jobs: number;
  budgetMs: number;
  killMs: number;
  target?: string;
  replay?: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { inputs: 1_000_000, seed: 1, jobs: 2, budgetMs: 2000, killMs: 30_000 };
  const num = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} needs a whole number, not '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--seed") o.seed = num(a, argv[++i]);
    else if (a === "--jobs") o.jobs = Math.max(1, num(a, argv[++i]));
    else if (a === "--budget-ms") o.budgetMs = num(a, argv[++i]);
    else if (a === "--kill-ms") o.killMs = num(a, argv[++i]);
    else if (a === "--target") o.target = argv[++i];
    else if (a === "--replay") o.replay = argv[++i];
    else o.inputs = num("inputs", a);
  }
  if (o.target !== undefined && !Object.hasOwn(SHARES, o.target))
    throw new Error(`unknown target '${o.target}' (targets: ${Object.keys(SHARES).join(", ")})`);
  return o;
}

interface Chunk {
  target: string;
  start: number;
  runs: number;
}

function merge(into: TargetReport, r: TargetReport): void {
  into.runs += r.runs;
  into.accepted += r.accepted;
  for (const [k, v] of Object.entries(r.rejected)) into.rejected[k] = (into.rejected[k] ?? 0) + v;
  for (const kind of ["crashes", "multiLine", "hangs"] as const) {
    into[kind] += r[kind];
    into.found[kind].push(...r.found[kind].slice(0, KEEP - into.found[kind].length));
  }
  into.ms += r.ms;
  if (r.slowest.ms > into.slowest.ms) into.slowest = r.slowest;
}

/** Runs one chunk in a worker; a hang or a death of the worker becomes a finding and the rest goes on. */
function runChunk(
  c: Chunk,
  o: Options,
  onFinding: (target: string, kind: "crashes" | "hangs", index: number, error: string) => void,
): Promise<TargetReport> {
  return new Promise((resolve) => {
    const progress = new SharedArrayBuffer(8);
    const at = new Int32Array(progress);
    at[0] = c.start;
    const job: WorkerJob = {
      target: c.target,
      runs: c.runs,
      seed: o.seed,
      start: c.start,
      budgetMs: o.budgetMs,
      progress,
    };
    const worker = new Worker(new URL("./worker.js", import.meta.url), {
      workerData: job,
      resourceLimits: { maxOldGenerationSizeMb: 4096 },
    });
    let last = -1;
    let since = performance.now();
    let settled = false;
    const rest = async (index: number, partialMs: number): Promise<TargetReport> => {
      // The inputs before `index` were read (their tallies died with the worker: counted as read, not
      // broken down), `index` is the finding, the rest runs in a new worker.
      const done = emptyReport(c.target);
      done.runs = index - c.start + 1;
      done.rejected = { "(lost with the worker)": index - c.start };
      done.ms = partialMs;
      if (index + 1 < c.start + c.runs)
        merge(
          done,
          await runChunk({ ...c, start: index + 1, runs: c.start + c.runs - index - 1 }, o, onFinding),
        );
      return done;
    };
    const started = performance.now();
    const watchdog = setInterval(() => {
      const i = Atomics.load(at, 0);
      if (i !== last || Atomics.load(at, 1) === 0) {
        last = i;
        since = performance.now();
      } else if (performance.now() - since > o.killMs && !settled) {
        settled = true;
        clearInterval(watchdog);
        void worker.terminate();
        onFinding(c.target, "hangs", i, `still reading after ${o.killMs} ms: stopped`);
        void rest(i, performance.now() - started).then(resolve);
      }
    }, 250);
    worker.on("message", (r: TargetReport) => {
      settled = true;
      clearInterval(watchdog);
      resolve(r);
    });
    worker.on("error", (e) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      const i = Atomics.load(at, 0);
      onFinding(c.target, "crashes", i, String((e as Error).stack ?? e));
      void rest(i, performance.now() - started).then(resolve);
    });
  });
}

function replay(o: Options): number {
  const [name, index] = o.replay!.split(":");
  const t = allTargets().find((x) => x.name === name) as FuzzTarget | undefined;
  if (!t || !/^\d+$/.test(index ?? ""))
    throw new Error(`--replay needs TARGET:INDEX (targets: ${Object.keys(SHARES).join(", ")})`);
  const m = makeInput(t, o.seed, Number(index));
  const text = typeof m.input === "string" ? m.input : "base64:" + Buffer.from(m.input).toString("base64");
  console.log(
    `${name}:${index} seed ${o.seed}, ${m.mutation}, ${m.input.length} ${typeof m.input === "string" ? "characters" : "bytes"}`,
  );
  console.log(JSON.stringify(text.length > 4000 ? text.slice(0, 4000) + "…" : text));
  try {
    t.read(m.input);
    console.log("read: a valid document");
    return 0;
  } catch (e) {
    const key = t.rejection(e);
    console.log(
      key === undefined
        ? `CRASH: ${String((e as Error)?.stack ?? e)}`
        : `rejected (${key}): ${(e as Error).message}`,
    );
    return key === undefined ? 1 : 0;
  }
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.replay) return replay(o);
  const names = o.target ? [o.target] : Object.keys(SHARES);
  const total = names.reduce((a, n) => a + (o.target ? 1 : SHARES[n]!), 0);
  const chunks: Chunk[] = [];
  for (const n of names) {
    const runs = Math.round((o.inputs * (o.target ? 1 : SHARES[n]!)) / total);
    for (let start = 0; start < runs; start += CHUNK)
      chunks.push({ target: n, start, runs: Math.min(CHUNK, runs - start) });
  }
  console.log(
    `guestabi fuzz: ${o.inputs} inputs over ${names.length} readers, seed ${o.seed}, ${o.jobs} workers, budget ${o.budgetMs} ms an input`,
  );
  const reports = new Map(names.map((n) => [n, emptyReport(n)]));
  const onFinding = (target: string, kind: "crashes" | "hangs", index: number, error: string) => {
    const r = reports.get(target)!;
    r[kind]++;
    const f = {
      index,
      mutation: "(replay it)",
      input: `npm run fuzz -- --replay ${target}:${index} --seed ${o.seed}`,
      error,
    };
    r.found[kind].push(f);
  };
  const started = performance.now();
  const queue = [...chunks];
  await Promise.all(
    Array.from({ length: o.jobs }, async () => {
      for (let c = queue.shift(); c; c = queue.shift())
        merge(reports.get(c.target)!, await runChunk(c, o, onFinding));
    }),
  );
  const wall = (performance.now() - started) / 1000;
  const row = (cells: (string | number)[]) =>
    console.log(cells.map((c, i) => (i === 0 ? String(c).padEnd(16) : String(c).padStart(10))).join(" "));
  row([
    "target",
    "inputs",
    "accepted",
    "rejected",
    "crashes",
    "hangs",
    "multiline",
    "slowest ms",
    "inputs/s",
  ]);
  const all = [...reports.values()];
  for (const r of all)
    row([
      r.target,
      r.runs,
      r.accepted,
      Object.values(r.rejected).reduce((a, b) => a + b, 0),
      r.crashes,
      r.hangs,
      r.multiLine,
      r.slowest.ms.toFixed(1),
      Math.round(r.runs / (r.ms / 1000)),
    ]);
  const sum = (f: (r: TargetReport) => number) => all.reduce((a, r) => a + f(r), 0);
  const slowest = all.reduce((a, r) => (r.slowest.ms > a.slowest.ms ? r : a));
  row([
    "total",
    sum((r) => r.runs),
    sum((r) => r.accepted),
    sum((r) => Object.values(r.rejected).reduce((a, b) => a + b, 0)),
    sum((r) => r.crashes),
    sum((r) => r.hangs),
    sum((r) => r.multiLine),
    slowest.slowest.ms.toFixed(1),
    Math.round(sum((r) => r.runs) / wall),
  ]);
  console.log(
    `wall ${wall.toFixed(1)} s, seed ${o.seed}; slowest input ${slowest.target}:${slowest.slowest.index} (${slowest.slowest.mutation}) ${slowest.slowest.ms.toFixed(1)} ms`,
  );
  for (const r of all) {
    for (const kind of ["crashes", "hangs", "multiLine"] as const)
      for (const f of r.found[kind].slice(0, 5)) {
        console.log(
          `${kind === "multiLine" ? "multi-line message" : kind === "crashes" ? "CRASH" : "HANG"} ${r.target}:${f.index} ${f.mutation}: ${f.error.split("\n").slice(0, 4).join(" | ")}`,
        );
        console.log(`  replay: npm run fuzz -- --replay ${r.target}:${f.index} --seed ${o.seed}`);
      }
  }
  return sum((r) => r.crashes + r.hangs) > 0 ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`guestabi fuzz: ${(e as Error).message}`);
    process.exitCode = 2;
  },
);
