/**
 * `check --vmm qemu@V` agrees with real QEMU: for every cell of the lab's QEMU migration matrices
 * (lab/qemu/results.json: Debian's QEMU 7.2, 10.0 and 11.1 under real KVM on 5.10, 6.1, 6.12 and 7.2,
 * each stream migrated out on one kernel and `-incoming`'d on every kernel, per CPU model and option
 * set), the stream as guestabi reads it, checked against the destination kernel's lab profile under
 * that QEMU's rules, loads exactly when QEMU loaded it; where it did not, every line of the error
 * guestabi predicts is among QEMU's stderr lines, and the last is QEMU's last.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkAbi } from "../check/check.js";
import { readProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { decodeQemuStream, qemuStreamToSnapshot } from "../vmm/qemu-stream.js";
import { LINE_JOIN, QEMU_PREFIX, qemuPolicy } from "../vmm/qemu.js";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const labDir = path.join(repo, "lab/qemu");

type Cell = "loaded" | { loaded: true; warnings: string } | { error: string; exit: number; stage: string };
interface Run {
  sources: Record<string, { stream: string }>;
  matrix: Record<string, Record<string, Cell>>;
}
interface Results {
  sets: Record<string, { runs: Record<string, Record<string, Run>> }>;
}

const results = JSON.parse(fs.readFileSync(path.join(labDir, "results.json"), "utf8")) as Results;
const profiles = new Map<string, HostProfile>();
const profileOf = (kernel: string, cpu: string): HostProfile => {
  const file = path.join(repo, "lab/profiles", `${kernel}-${cpu}.json`);
  let p = profiles.get(file);
  if (!p) profiles.set(file, (p = readProfile(fs.readFileSync(file, "utf8"), file)));
  return p;
};
const streamBytes = (file: string): Uint8Array =>
  new Uint8Array(zlib.gunzipSync(fs.readFileSync(path.join(labDir, file))));
const loaded = (c: Cell): boolean => c === "loaded" || ("loaded" in c && c.loaded);
const stderrLines = (c: Cell): string[] =>
  typeof c === "object" && "error" in c ? c.error.split("\n").map((l) => l.replace(QEMU_PREFIX, "")) : [];

describe("check --vmm qemu@V predicts the real QEMU migrations (lab/qemu)", () => {
  for (const [set, { runs }] of Object.entries(results.sets))
    for (const [version, byCpu] of Object.entries(runs))
      for (const [cpu, run] of Object.entries(byCpu))
        it(`${set}: QEMU ${version} on ${cpu}, 4 x 4 kernels`, () => {
          const policy = qemuPolicy(version);
          let cells = 0;
          for (const [from, row] of Object.entries(run.matrix)) {
            const stream = run.sources[from]?.stream;
            assert.ok(stream, `no stream of ${from}`);
            const snapshot = qemuStreamToSnapshot(decodeQemuStream(streamBytes(stream)));
            for (const [to, cell] of Object.entries(row)) {
              const where = `${version} ${cpu} ${from} -> ${to}`;
              const report = checkAbi(snapshot, profileOf(to, cpu), { vmm: policy });
              assert.equal(
                report.restore.loads,
                loaded(cell),
                `${where}: ${report.restore.error ?? "loads"}`,
              );
              if (!report.restore.loads) {
                const predicted = (report.restore.error ?? "").split(LINE_JOIN);
                const real = stderrLines(cell);
                for (const line of predicted)
                  assert.ok(real.includes(line), `${where}: '${line}' not in ${real.join(" / ")}`);
                assert.equal(predicted.at(-1), real.at(-1), where);
              }
              cells++;
            }
          }
          assert.equal(cells, 16);
        });

  it("the CLI says it too: exit 0 where QEMU loaded, 1 naming QEMU's error where it did not", () => {
    const run = results.sets["default"]?.runs["7.2"]?.["neoverse-n1"];
    assert.ok(run);
    const cli = path.join(repo, "dist/cli/main.js");
    const tmp = fs.mkdtempSync(path.join(fs.realpathSync(process.env["TMPDIR"] ?? "/tmp"), "guestabi-qemu-"));
    try {
      const file = path.join(tmp, "6.1.qemu");
      fs.writeFileSync(file, streamBytes(run.sources["6.1"]!.stream));
      const check = (to: string) =>
        spawnSync(
          process.execPath,
          [cli, "check", file, "--host", path.join(repo, `lab/profiles/${to}-neoverse-n1.json`)],
          {
            encoding: "utf8",
          },
        );
      // The stream's machine type (virt-7.2) selects QEMU 7.2's rules without --vmm.
      const onwards = check("7.2");
      assert.equal(onwards.status, 0, onwards.stderr);
      assert.match(onwards.stdout, /^QEMU 7\.2 loads it/m);
      const back = check("5.10");
      assert.equal(back.status, 1, back.stderr);
      assert.match(
        back.stdout,
        /^QEMU 7\.2 refuses the restore at VMM: Invalid value 241 expecting positive value <= 237 \| Failed to load cpu:cpreg_vmstate_array_len/m,
      );
      assert.equal(loaded(run.matrix["6.1"]!["7.2"]!), true);
      assert.equal(loaded(run.matrix["6.1"]!["5.10"]!), false);
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });
});
