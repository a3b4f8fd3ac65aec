// Real QEMU migrations between kernels, what lab/qemu-migrate.mjs and lab/qemu.test.mjs share: the
// QEMU versions (lab/qemu-versions.json, sysroots from lab/qemu-sysroot.sh), the guest initramfs
// (busybox + one QEMU sysroot + lab/qemu-guest.sh), a save boot (inner VM started, stopped, migrated
// to a file) and a load boot (each stream -incoming'd in turn), and lab/qemu/results.json.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { LAB_CACHE, REPO, boot } from "./lab-lib.mjs";

/** QEMU version -> the Debian suite whose qemu-system-arm:arm64 it is (lab/qemu-versions.json). */
export const QEMU_VERSIONS = JSON.parse(fs.readFileSync(path.join(REPO, "lab/qemu-versions.json"), "utf8"));
export const QEMUS = Object.keys(QEMU_VERSIONS);
/** Outer CPU models of the matrix: one nVHE (cortex-a72), one VHE (neoverse-n1) host kernel. */
export const QEMU_CPUS = ["cortex-a72", "neoverse-n1"];
/** The four upstream-stable kernel lines the simulator models (lab/lab-kernels.json). */
export const QEMU_KERNELS = ["5.10", "6.1", "6.12", "7.2"];
/** Inner guest RAM in MiB: the stream is mostly one header per page, so it scales with this. */
export const INNER_MEM_MB = 16;
export const RESULTS_DIR = path.join(REPO, "lab/qemu");
export const RESULTS_FORMAT = "guestabi-qemu-migration-lab";
/** QEMU's migration stream starts with QEMU_VM_FILE_MAGIC (migration/savevm.c). */
export const STREAM_MAGIC = "QEVM";

/** Sysroot records of lab/qemu-sysroot.sh: QEMU version -> {suite, version, root, files, ...}. */
export function qemuSysroots() {
  const file = path.join(LAB_CACHE, "qemu.json");
  if (!fs.existsSync(file)) throw new Error(`${file} missing: run lab/qemu-sysroot.sh (or lab/setup.sh)`);
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

/**
 * The extra -cpu host options of a result set and its name: "default" without options, else the
 * options themselves ("kvm-psci-version=1.0"), or "src:<opts>+dst:<opts>" when the sides differ.
 */
export function resultSet({ cpuOpts = "", srcCpuOpts, dstCpuOpts, name }) {
  const source = srcCpuOpts ?? cpuOpts;
  const destination = dstCpuOpts ?? cpuOpts;
  for (const o of [source, destination])
    if (!/^[A-Za-z0-9_.=,-]*$/.test(o))
      throw new Error(`CPU options '${o}' contain characters other than [A-Za-z0-9_.=,-]`);
  const derived =
    source === destination ? source || "default" : `src:${source || "none"}+dst:${destination || "none"}`;
  const set = name ?? derived;
  if (!/^[A-Za-z0-9_.=,:+-]+$/.test(set)) throw new Error(`result set name '${set}' is not a plain word`);
  return { name: set, cpuOptions: { source, destination } };
}

export const streamPath = (set, qemu, cpu, kernel) => `streams/${set}/${qemu}-${cpu}-${kernel}.qemu.gz`;

/**
 * Initramfs for QEMU `qemu`: busybox, lab/init as /init, the sysroot (/usr/bin/qemu-system-aarch64,
 * /lib/...), /payload/qemu-guest.sh and /payload/loop.bin. Plain cpio (no guest gunzip), cached in
 * $LAB/initramfs by the identity of its inputs; returns its path.
 */
export function qemuInitramfs(qemu) {
  const sysroot = qemuSysroots()[qemu];
  if (!sysroot) throw new Error(`no sysroot for QEMU ${qemu} in ${path.join(LAB_CACHE, "qemu.json")}`);
  const busybox = JSON.parse(fs.readFileSync(path.join(LAB_CACHE, "userland.json"), "utf8")).busybox.path;
  const inputs = [path.join(REPO, "lab/init"), path.join(REPO, "lab/qemu-guest.sh"), busybox];
  const key = createHash("sha256")
    .update(JSON.stringify([sysroot.root, sysroot.version, busybox]))
    .update(Buffer.concat(inputs.map((f) => fs.readFileSync(f))))
    .digest("hex")
    .slice(0, 16);
  const out = path.join(LAB_CACHE, "initramfs", `qemu-${qemu}-${key}.cpio`);
  if (fs.existsSync(out)) return out;
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-qemu-initramfs-"));
  try {
    for (const d of ["bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "root", "payload"])
      fs.mkdirSync(path.join(stage, d), { recursive: true });
    fs.cpSync(sysroot.root, stage, { recursive: true });
    fs.copyFileSync(busybox, path.join(stage, "bin/busybox"));
    fs.chmodSync(path.join(stage, "bin/busybox"), 0o755);
    fs.copyFileSync(path.join(REPO, "lab/init"), path.join(stage, "init"));
    fs.chmodSync(path.join(stage, "init"), 0o755);
    fs.copyFileSync(path.join(REPO, "lab/qemu-guest.sh"), path.join(stage, "payload/qemu-guest.sh"));
    // `add x0, x0, #1; b .-4`: the inner VM's whole program, so it needs no firmware, kernel or ROM.
    fs.writeFileSync(
      path.join(stage, "payload/loop.bin"),
      Buffer.from([0x00, 0x04, 0x00, 0x91, 0xff, 0xff, 0xff, 0x17]),
    );
    // /dev/console before devtmpfs is mounted, as lab/build-initramfs.sh does (needs root; optional).
    spawnSync("sh", ["-c", "mknod -m 600 dev/console c 5 1 && mknod -m 666 dev/null c 1 3"], { cwd: stage });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    cpio(stage, `${out}.tmp.${process.pid}`, ">");
    fs.renameSync(`${out}.tmp.${process.pid}`, out);
    // Superseded builds of this QEMU version go.
    for (const f of fs.readdirSync(path.dirname(out)))
      if (f.startsWith(`qemu-${qemu}-`) && f.endsWith(".cpio") && f !== path.basename(out))
        fs.rmSync(path.join(path.dirname(out), f), { force: true });
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
  return out;
}

/** Writes (">") or appends (">>") a newc archive of DIR's contents, owned by root, to FILE. */
function cpio(dir, file, redirect) {
  const r = spawnSync(
    "sh",
    [
      "-c",
      `cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet ${redirect} "$2"`,
      "sh",
      dir,
      file,
    ],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`cpio failed: ${r.stderr || r.error?.message || `exit ${r.status}`}`);
}

/**
 * `initrd` plus one more archive holding /payload/streams/<name>.qemu for each stream (the kernel
 * unpacks concatenated archives), in a fresh temporary directory; returns the file and a cleanup.
 */
export function initramfsWithStreams(initrd, streams) {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-qemu-streams-"));
  const files = path.join(stage, "files");
  fs.mkdirSync(path.join(files, "payload/streams"), { recursive: true });
  for (const [name, bytes] of Object.entries(streams))
    fs.writeFileSync(path.join(files, `payload/streams/${name}.qemu`), bytes);
  const out = path.join(stage, "initrd.cpio");
  fs.copyFileSync(initrd, out);
  cpio(files, out, ">>");
  return { file: out, cleanup: () => fs.rmSync(stage, { recursive: true, force: true }) };
}

/** The files lab/qemu-guest.sh sent back (a gzip'd tar in base64): name -> Buffer. */
function unpackGuestOutput(stdout) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-qemu-out-"));
  try {
    const tar = zlib.gunzipSync(Buffer.from(stdout, "base64"));
    const r = spawnSync("tar", ["-x", "-C", dir], { input: tar });
    if (r.status !== 0) throw new Error(`tar -x failed: ${r.stderr.toString().trim()}`);
    return Object.fromEntries(fs.readdirSync(dir).map((f) => [f, fs.readFileSync(path.join(dir, f))]));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const text = (files, name) => files[name]?.toString("utf8").trim();
/** QEMU's stderr as lines, without the empty ones. */
const stderrLines = (files, name) => (text(files, name) ?? "").split("\n").filter((l) => l.trim() !== "");

async function guest({ qemu, cpu, kernel, initrd, mode, cpuOpts, mem, timeoutS, label }) {
  const resultFile = path.join(LAB_CACHE, "results", "qemu", `${label}.boot.json`);
  fs.mkdirSync(path.dirname(resultFile), { recursive: true });
  const cmd = `sh /payload/qemu-guest.sh ${mode} ${mem} '${cpuOpts}'`;
  const r = await boot({ kernel, cpu, initrd, cmd, timeoutS, resultFile });
  if (r.code !== 0) throw new Error(`QEMU ${qemu} ${label}: ${r.problem} (log: ${resultFile})`);
  return unpackGuestOutput(r.stdout);
}

/**
 * Save boot: on `kernel`/`cpu`, start QEMU `qemu`'s inner VM, stop it and migrate it to a file.
 * Resolves with QEMU's version line, the CPU object's type and property list ("name (type)" lines
 * of qom-list), and the raw stream; or with {error} (QEMU's stderr) when no stream came out.
 */
export async function saveBoot({ qemu, cpu, kernel, cpuOpts = "", mem = INNER_MEM_MB, timeoutS = 300 }) {
  const label = `save-${qemu}-${cpu}-${kernel}`;
  const files = await guest({
    qemu,
    cpu,
    kernel,
    initrd: qemuInitramfs(qemu),
    mode: "save",
    cpuOpts,
    mem,
    timeoutS,
    label,
  });
  const result = {
    versionString: text(files, "version"),
    // qom-get prints the value as JSON ("host-arm-cpu" in quotes).
    cpuType: files["cpu-type"] ? JSON.parse(text(files, "cpu-type")) : null,
    // qom-list walks a hash table: sorted, so that runs compare.
    cpuProperties: (text(files, "cpu-properties") ?? "").split("\n").filter(Boolean).sort(),
  };
  const stream = files["stream.qemu"];
  const migrated = /status:\s*completed/i.test(text(files, "migrate-status") ?? "");
  if (!migrated || !stream) {
    const error = stderrLines(files, "save.stderr").join("\n");
    return {
      ...result,
      error: error || `no stream (migrate: ${text(files, "migrate-status") ?? "not reached"})`,
    };
  }
  return { ...result, stream };
}

/**
 * Load boot: on `kernel`/`cpu`, -incoming each stream (name -> bytes) in its own QEMU `qemu`.
 * Resolves with name -> "loaded" (loaded, and running after `cont`, nothing on stderr), or
 * {loaded: true, warnings} (the same, with QEMU's stderr lines), or {error, exit, stage}: QEMU's
 * stderr lines, its exit code, and whether the load or the `cont` after it failed.
 */
export async function loadBoot({
  qemu,
  cpu,
  kernel,
  streams,
  cpuOpts = "",
  mem = INNER_MEM_MB,
  timeoutS = 300,
}) {
  const label = `load-${qemu}-${cpu}-${kernel}`;
  const { file, cleanup } = initramfsWithStreams(qemuInitramfs(qemu), streams);
  let files;
  try {
    files = await guest({ qemu, cpu, kernel, initrd: file, mode: "load", cpuOpts, mem, timeoutS, label });
  } finally {
    cleanup();
  }
  return Object.fromEntries(
    Object.keys(streams).map((name) => {
      const n = `load-${name}`;
      const stderr = stderrLines(files, `${n}.stderr`).join("\n");
      const loaded = text(files, `${n}.loaded-status`);
      const afterCont = text(files, `${n}.cont-status`);
      if (loaded === "paused" && afterCont === "running")
        return [name, stderr ? { loaded: true, warnings: stderr } : "loaded"];
      const exit = Number(text(files, `${n}.exit`));
      const stage = loaded === "paused" ? "cont" : "load";
      const status =
        stage === "cont" ? `status after cont: ${afterCont ?? "none"}` : `status: ${loaded ?? "exited"}`;
      return [name, { error: stderr || `(nothing on stderr; ${status})`, exit, stage }];
    }),
  );
}

/** gzip with a fixed header (no name, mtime 0), so the same stream always gives the same file. */
export const gzipStream = (bytes) => zlib.gzipSync(bytes, { level: 9 });

/**
 * An error text with what varies between runs taken out (process ids, temporary paths), for
 * comparing a fresh run's outcome with the committed one.
 */
export const normaliseError = (s) => s.replace(/\/tmp\/[^\s'":]+/g, "/tmp/…").replace(/\bpid \d+/g, "pid N");

/** An outcome in the form compared by lab/qemu.test.mjs: error texts normalised. */
export function comparableOutcome(outcome) {
  if (typeof outcome === "string") return outcome;
  const o = { ...outcome };
  if (o.error) o.error = normaliseError(o.error);
  if (o.warnings) o.warnings = normaliseError(o.warnings);
  return o;
}

/** outDir/results.json, or an empty document when there is none yet. */
export function readResults(outDir = RESULTS_DIR) {
  const file = path.join(outDir, "results.json");
  if (!fs.existsSync(file)) return { format: RESULTS_FORMAT, sets: {} };
  const r = JSON.parse(fs.readFileSync(file, "utf8"));
  if (r.format !== RESULTS_FORMAT) throw new Error(`${file} is not a ${RESULTS_FORMAT} document`);
  return r;
}

/**
 * At most `n` guests at a time; a waiting task of a lower `priority` number goes first, so one
 * (QEMU, CPU) matrix finishes (its loads after its saves) before the next one takes the slots.
 */
export function guestSlots(n) {
  let free = n;
  const waiting = [];
  const release = () => {
    free++;
    waiting.sort((a, b) => a.priority - b.priority);
    waiting.shift()?.start();
  };
  return (priority, task) =>
    new Promise((resolve, reject) => {
      const start = () => {
        free--;
        task().then(resolve, reject).finally(release);
      };
      if (free > 0) start();
      else waiting.push({ priority, start });
    });
}

/**
 * One (QEMU version, outer CPU model) matrix: a save boot on each kernel, then on each kernel a load
 * boot of every stream saved (plus `extraStreams`, name -> bytes, loaded beside them). Resolves with
 * sources (kernel -> saveBoot's result) and outcomes (destination kernel -> stream name -> outcome,
 * the streams named by their source kernel).
 */
export async function runMatrix({
  qemu,
  cpu,
  kernels,
  cpuOptions,
  slot,
  priority = 0,
  extraStreams = {},
  mem = INNER_MEM_MB,
  timeoutS = 300,
  log = () => {},
}) {
  const sources = Object.fromEntries(
    await Promise.all(
      kernels.map((kernel) =>
        slot(priority, async () => {
          log(`save QEMU ${qemu} on ${kernel}/${cpu}`);
          const r = await saveBoot({ qemu, cpu, kernel, cpuOpts: cpuOptions.source, mem, timeoutS });
          log(`saved QEMU ${qemu} on ${kernel}/${cpu}: ${r.stream ? `${r.stream.length} bytes` : r.error}`);
          return [kernel, r];
        }),
      ),
    ),
  );
  const streams = {
    ...Object.fromEntries(Object.entries(sources).flatMap(([k, r]) => (r.stream ? [[k, r.stream]] : []))),
    ...extraStreams,
  };
  const outcomes = Object.fromEntries(
    await Promise.all(
      kernels.map((kernel) =>
        slot(priority, async () => {
          log(`load QEMU ${qemu} on ${kernel}/${cpu}: ${Object.keys(streams).join(", ")}`);
          const r = await loadBoot({
            qemu,
            cpu,
            kernel,
            streams,
            cpuOpts: cpuOptions.destination,
            mem,
            timeoutS,
          });
          log(
            `loaded QEMU ${qemu} on ${kernel}/${cpu}: ${Object.values(r)
              .map((o) => (o === "loaded" ? "ok" : o.loaded ? "ok+warnings" : "failed"))
              .join(", ")}`,
          );
          return [kernel, r];
        }),
      ),
    ),
  );
  return { sources, outcomes };
}

const ABOUT = [
  "Real QEMU migrations between host kernels, written by lab/qemu-migrate.mjs (see lab/README.md).",
  "Each guest: Debian's arm64 kernel KERNEL under qemu-system-aarch64 TCG with outer CPU model CPU (EL2, so the kernel has KVM), running Debian's arm64 qemu-system-aarch64 of QEMU version V with -accel kvm (innerCommand).",
  "sets.SET.runs.V.CPU.sources.K: the inner VM started on kernel K, stopped and migrated to a file: streams are the raw migration stream gzip'd (bytes and sha256 of the raw stream); cpuProperties is `qom-list` of the CPU object (sorted); or error: QEMU's stderr when no stream came out.",
  "sets.SET.runs.V.CPU.matrix.K.K2: the stream saved on K, -incoming'd by the same QEMU on K2: \"loaded\" (loaded and `info status` running after `cont`, nothing on stderr), {loaded: true, warnings} (the same, with QEMU's stderr lines), or {error, exit, stage} (QEMU's stderr lines, its exit code, stage load or cont).",
  'sets.SET.cpuOptions: extra options of -cpu host on the source and the destination ("" for none).',
];

const INNER_COMMAND =
  'qemu-system-aarch64 -accel kvm -M virt,gic-version=3 -cpu host[,OPTIONS] -smp 1 -m MEM -nodefaults -display none -monitor stdio -device loader,file=loop.bin,addr=0x40200000,cpu-num=0 [-incoming "exec:cat STREAM"] (loop.bin: add x0,x0,#1; b .-4)';

/** Source kernel -> {stream file, bytes, sha256, cpuType, cpuProperties} or {error, ...}. */
function recordSources(outDir, set, qemu, cpu, sources) {
  return Object.fromEntries(
    Object.entries(sources).map(([kernel, r]) => {
      const file = streamPath(set, qemu, cpu, kernel);
      const abs = path.join(outDir, file);
      if (!r.stream) {
        fs.rmSync(abs, { force: true });
        return [kernel, { error: r.error, cpuType: r.cpuType, cpuProperties: r.cpuProperties }];
      }
      fs.mkdirSync(path.dirname(abs), { recursive: true });
      fs.writeFileSync(`${abs}.tmp`, gzipStream(r.stream));
      fs.renameSync(`${abs}.tmp`, abs);
      const sha256 = createHash("sha256").update(r.stream).digest("hex");
      return [
        kernel,
        { stream: file, bytes: r.stream.length, sha256, cpuType: r.cpuType, cpuProperties: r.cpuProperties },
      ];
    }),
  );
}

/**
 * Puts one finished matrix into `results` (streams written under outDir first) and writes
 * outDir/results.json atomically. The QEMU and kernel packages it ran on are recorded with it.
 */
export function recordMatrix(results, outDir, { set, qemu, cpu, kernels, sources, outcomes, mem }) {
  const sysroot = qemuSysroots()[qemu];
  const versionStrings = [...new Set(Object.values(sources).map((r) => r.versionString))];
  if (versionStrings.length !== 1)
    throw new Error(
      `QEMU ${qemu} reported ${versionStrings.length} version strings: ${versionStrings.join(" | ")}`,
    );
  const known = JSON.parse(fs.readFileSync(path.join(LAB_CACHE, "kernels.json"), "utf8"));
  const qemuEntry = {
    suite: sysroot.suite,
    package: sysroot.package,
    version: sysroot.version,
    versionString: versionStrings[0],
  };
  const kernelEntries = Object.fromEntries(
    kernels.map((k) => {
      const { suite, package: pkg, version, release } = known[k];
      return [k, { suite, package: pkg, version, release }];
    }),
  );
  const sets = { ...results.sets };
  const runs = { ...sets[set.name]?.runs };
  runs[qemu] = {
    ...runs[qemu],
    [cpu]: {
      qemuVersion: sysroot.version,
      kernels: Object.fromEntries(kernels.map((k) => [k, known[k].version])),
      mem,
      sources: recordSources(outDir, set.name, qemu, cpu, sources),
      matrix: Object.fromEntries(
        kernels.map((k) => [
          k,
          Object.fromEntries(
            kernels.map((k2) => [k2, outcomes[k2][k] ?? { error: `no stream: the save on ${k} failed` }]),
          ),
        ]),
      ),
    },
  };
  sets[set.name] = { cpuOptions: set.cpuOptions, runs };
  // Rebuilt in this key order, so the file reads top-down.
  Object.assign(results, {
    format: RESULTS_FORMAT,
    about: ABOUT,
    innerCommand: INNER_COMMAND,
    qemu: { ...results.qemu, [qemu]: qemuEntry },
    kernels: { ...results.kernels, ...kernelEntries },
    sets,
  });
  const ordered = Object.fromEntries(
    ["format", "about", "innerCommand", "qemu", "kernels", "sets"].map((k) => [k, results[k]]),
  );
  const file = path.join(outDir, "results.json");
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(ordered, null, 2) + "\n");
  fs.renameSync(`${file}.tmp`, file);
}
