// lab/qemu/: real QEMU migrations between kernels (lab/qemu-migrate.mjs).
// Always: results.json is well-formed, covers every QEMU version x outer CPU model x kernel pair of
// the default set, and every stream it names is committed, starts with QEMU's stream magic and is
// byte-exact (size and sha256 of the gunzip'd file).
// GUESTABI_LAB_QEMU names matrices to re-run on real kernels: "all" (every set, QEMU version and CPU
// model in results.json) or a list like "11.1/neoverse-n1,7.2/cortex-a72@kvm-psci-version=1.0"
// (V/C of the default set, or V/C@SET). Each is saved and loaded afresh with its set's -cpu host
// options, and the committed streams are loaded beside the fresh ones; every outcome (error texts
// normalised only for temporary paths and pids), QEMU's version line and the CPU property lists must
// equal the committed ones. Needs lab/setup.sh (which builds the QEMU sysroots).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import zlib from "node:zlib";
import {
  QEMUS,
  QEMU_CPUS,
  QEMU_KERNELS,
  RESULTS_DIR,
  RESULTS_FORMAT,
  STREAM_MAGIC,
  comparableOutcome,
  guestSlots,
  readResults,
  runMatrix,
  streamPath,
} from "./qemu-lib.mjs";

const results = readResults();
const runsOf = (set) =>
  Object.entries(set.runs).flatMap(([qemu, byCpu]) =>
    Object.entries(byCpu).map(([cpu, run]) => ({ qemu, cpu, run })),
  );

/** Why `o` is not a matrix cell of results.json, or undefined. */
function cellProblem(o) {
  if (o === "loaded") return undefined;
  if (typeof o !== "object" || o === null) return `${JSON.stringify(o)} is neither "loaded" nor an object`;
  if (o.loaded === true)
    return typeof o.warnings === "string" && o.warnings !== "" && Object.keys(o).length === 2
      ? undefined
      : "a loaded cell with more than its warnings";
  if (typeof o.error !== "string" || o.error === "") return "no error text";
  if (o.error.startsWith("no stream:")) return undefined; // the save on the source kernel failed
  if (!["load", "cont"].includes(o.stage)) return `stage ${o.stage}`;
  return Number.isInteger(o.exit) ? undefined : `exit ${o.exit}`;
}

describe("lab/qemu/results.json (committed real QEMU migrations)", () => {
  it("is a results document naming its QEMU packages and kernels", () => {
    assert.equal(results.format, RESULTS_FORMAT);
    for (const [qemu, q] of Object.entries(results.qemu)) {
      assert.ok(QEMUS.includes(qemu), `QEMU ${qemu} is in lab/qemu-versions.json`);
      assert.equal(q.package, "qemu-system-arm");
      // "QEMU emulator version 11.1.3 (Debian 1:11.1.3+ds-1)": the version string of that package.
      assert.match(
        q.versionString,
        new RegExp(
          `^QEMU emulator version ${qemu.replace(".", "\\.")}[.\\s].*\\(Debian ${q.version.replace(/[.+]/g, "\\$&")}\\)$`,
        ),
      );
    }
    for (const k of Object.values(results.kernels)) assert.match(k.package, /^linux-(image|binary)-/);
  });

  it("has the default set's whole matrix: every QEMU version x CPU model x source x destination kernel", () => {
    const set = results.sets.default;
    assert.deepEqual(set.cpuOptions, { source: "", destination: "" });
    assert.deepEqual(Object.keys(set.runs).sort(), [...QEMUS].sort());
    for (const qemu of QEMUS) {
      assert.deepEqual(Object.keys(set.runs[qemu]).sort(), [...QEMU_CPUS].sort(), `QEMU ${qemu}`);
      for (const cpu of QEMU_CPUS) {
        const run = set.runs[qemu][cpu];
        assert.deepEqual(Object.keys(run.sources), QEMU_KERNELS, `${qemu}/${cpu} sources`);
        for (const k of QEMU_KERNELS)
          assert.deepEqual(Object.keys(run.matrix[k]), QEMU_KERNELS, `${qemu}/${cpu} from ${k}`);
      }
    }
  });

  for (const [name, set] of Object.entries(results.sets))
    for (const { qemu, cpu, run } of runsOf(set))
      it(`${name} ${qemu}/${cpu}: cells are outcomes, sources have their property lists and streams`, () => {
        assert.equal(run.qemuVersion, results.qemu[qemu].version, "ran on the QEMU package recorded for it");
        for (const [k, row] of Object.entries(run.matrix))
          for (const [k2, o] of Object.entries(row)) assert.equal(cellProblem(o), undefined, `${k} -> ${k2}`);
        for (const [k, src] of Object.entries(run.sources)) {
          assert.equal(src.cpuType, "host-arm-cpu", `${k}: qom-list was taken on the CPU object`);
          assert.ok(src.cpuProperties.includes("midr (uint64)"), `${k}: a CPU's property list`);
          assert.deepEqual(src.cpuProperties, [...src.cpuProperties].sort(), `${k}: sorted`);
          if (src.error) {
            assert.equal(src.stream, undefined);
            continue;
          }
          assert.equal(src.stream, streamPath(name, qemu, cpu, k));
          const raw = zlib.gunzipSync(fs.readFileSync(path.join(RESULTS_DIR, src.stream)));
          assert.equal(raw.subarray(0, 4).toString("latin1"), STREAM_MAGIC, `${src.stream} starts with QEVM`);
          assert.equal(raw.length, src.bytes, `${src.stream} size`);
          assert.equal(createHash("sha256").update(raw).digest("hex"), src.sha256, `${src.stream} sha256`);
        }
      });

  it("names no stream file that is not committed, and commits none it does not name", () => {
    const named = Object.entries(results.sets).flatMap(([, set]) =>
      runsOf(set).flatMap(({ run }) =>
        Object.values(run.sources).flatMap((s) => (s.stream ? [s.stream] : [])),
      ),
    );
    const dir = path.join(RESULTS_DIR, "streams");
    const onDisk = fs
      .readdirSync(dir, { recursive: true })
      .filter((f) => f.endsWith(".qemu.gz"))
      .map((f) => `streams/${f}`);
    assert.deepEqual(onDisk.sort(), named.sort());
  });
});

const spec = process.env.GUESTABI_LAB_QEMU ?? "";
const targets = (
  spec === "all"
    ? Object.entries(results.sets).flatMap(([name, set]) =>
        runsOf(set).map(({ qemu, cpu }) => [qemu, cpu, name]),
      )
    : spec
        .split(",")
        .filter(Boolean)
        .map((t) => {
          const [vc, name = "default"] = t.split("@");
          return [...vc.split("/"), name];
        })
).map(([qemu, cpu, name]) => {
  const run = results.sets[name]?.runs[qemu]?.[cpu];
  if (!run)
    throw new Error(`GUESTABI_LAB_QEMU: no committed run '${qemu}/${cpu}@${name}' in lab/qemu/results.json`);
  return { qemu, cpu, name, run };
});

// Two guests at a time across all targets: QEMU emulates one vCPU per thread and CI has two cores.
describe(
  "real QEMU migrations (GUESTABI_LAB_QEMU)",
  { skip: targets.length === 0 && "GUESTABI_LAB_QEMU is not set", concurrency: true },
  () => {
    const slot = guestSlots(2);
    targets.forEach(({ qemu, cpu, name, run }, priority) =>
      it(`QEMU ${qemu} on ${cpu} (${name}): saved and loaded afresh, every outcome as committed`, async () => {
        const kernels = Object.keys(run.sources);
        const extraStreams = Object.fromEntries(
          Object.entries(run.sources).flatMap(([k, s]) =>
            s.stream
              ? [[`committed-${k}`, zlib.gunzipSync(fs.readFileSync(path.join(RESULTS_DIR, s.stream)))]]
              : [],
          ),
        );
        const { sources, outcomes } = await runMatrix({
          qemu,
          cpu,
          kernels,
          cpuOptions: results.sets[name].cpuOptions,
          slot,
          priority,
          extraStreams,
          mem: run.mem,
        });
        for (const k of kernels) {
          const fresh = sources[k];
          assert.equal(fresh.versionString, results.qemu[qemu].versionString, `QEMU ${qemu}'s version line`);
          assert.deepEqual(fresh.cpuProperties, run.sources[k].cpuProperties, `CPU properties on ${k}`);
          assert.equal(fresh.error, run.sources[k].error, `the save on ${k}`);
        }
        for (const k of kernels)
          for (const k2 of kernels) {
            const expected = comparableOutcome(run.matrix[k][k2]);
            assert.deepEqual(
              comparableOutcome(outcomes[k2][k] ?? { error: `no stream: the save on ${k} failed` }),
              expected,
              `fresh stream ${k} -> ${k2}`,
            );
            if (run.sources[k].stream)
              assert.deepEqual(
                comparableOutcome(outcomes[k2][`committed-${k}`]),
                expected,
                `committed stream ${k} -> ${k2}`,
              );
          }
      }),
    );
  },
);
