/**
 * One fuzz run of one target in a worker thread (main.ts starts it): the main thread watches the
 * index this worker is at, so that a hanging input can be stopped and named, and a worker's heap
 * limit turns an input that eats memory into a finding instead of a dead process.
 */
import { parentPort, workerData } from "node:worker_threads";
import { runTarget } from "../formats/fuzz/engine.js";
import { allTargets } from "./targets.js";

export interface WorkerJob {
  target: string;
  runs: number;
  seed: number;
  start: number;
  budgetMs: number;
  /** Int32Array over a SharedArrayBuffer: [0] the index being read, [1] 1 once the seeds are made. */
  progress: SharedArrayBuffer;
}

const job = workerData as WorkerJob;
const progress = new Int32Array(job.progress);
const target = allTargets().find((t) => t.name === job.target)!;
Atomics.store(progress, 1, 1);
parentPort!.postMessage(
  runTarget(target, { runs: job.runs, seed: job.seed, start: job.start, budgetMs: job.budgetMs, progress }),
);
