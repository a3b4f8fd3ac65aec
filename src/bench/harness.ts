/** A small benchmark harness: runs a body until enough time has passed and reports operations/s. */
import { performance } from "node:perf_hooks";

export interface BenchResult {
  name: string;
  opsPerSecond: number;
  unit: string;
}

/**
 * `body` performs `opsPerCall` operations per call; it is called repeatedly for at least `minMs` after
 * a warm-up, and the best of three rounds is kept (the least disturbed by the other core's load).
 */
export function bench(
  name: string,
  opsPerCall: number,
  body: () => void,
  unit = "ops/s",
  minMs = 300,
): BenchResult {
  for (let i = 0; i < 3; i++) body();
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < minMs) {
      body();
      calls++;
      elapsed = performance.now() - start;
    }
    best = Math.max(best, (calls * opsPerCall) / (elapsed / 1000));
  }
  return { name, opsPerSecond: best, unit };
}

export function formatRate(r: BenchResult): string {
  const v = r.opsPerSecond;
  const scaled =
    v >= 1e6 ? `${(v / 1e6).toFixed(2)} M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} k` : v.toFixed(1) + " ";
  return `${r.name.padEnd(48)} ${scaled}${r.unit}`;
}

export function ratio(label: string, a: BenchResult, b: BenchResult): string {
  return `${label.padEnd(48)} ${(a.opsPerSecond / b.opsPerSecond).toFixed(2)}x`;
}
