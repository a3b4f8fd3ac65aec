#!/usr/bin/env node
// Boot one Debian arm64 kernel under QEMU TCG (virt, EL2, GICv3) with a lab initramfs, run one
// command in the guest and bring back its output. No npm dependencies; Node >= 18.
//
//   node lab/boot.mjs --kernel 6.1 --cpu cortex-a72 --initrd FILE [--cmd 'node dist/x.mjs']
//                     [--timeout 300] [--out RESULT.json] [--mem 2048] [--smp 1] [--append ARGS]
//                     [--icount OPTS]   (QEMU's -icount, e.g. shift=0,sleep=off: lab/kvm-speed)
//                     [--quiet] [--allow-no-kvm]
//
// --kernel: a lab kernel from kernels.json (5.10, 6.1, 6.12, 6.18-bpo, 7.2, 7.3) or a path to an arm64 Image.
// --cpu: max, max-impdef (= max,pauth-impdef=on), cortex-a57, cortex-a72, cortex-a76, neoverse-n1, a64fx.
// --cmd: sh command run in /payload (default: the initramfs's /payload/guestabi-run.sh).
// The command's stdout (exact bytes) is written to our stdout unless --quiet; progress and
// errors go to stderr. The result JSON (atomic write) defaults to
// $CACHE/lab/results/<kernel>_<cpu>.json, with the full serial log beside it (.console.log).
// Exit: 0 ok; 1 guest command failed (rc in the result); 2 usage; 3 booted but no /dev/kvm;
//       4 timeout; 5 boot or protocol failure.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import zlib from "node:zlib";

const CPUS = {
  max: "max",
  "max-impdef": "max,pauth-impdef=on", // cheaper pointer auth to emulate; a CPU model of its own
  "cortex-a57": "cortex-a57",
  "cortex-a72": "cortex-a72",
  "cortex-a76": "cortex-a76",
  "neoverse-n1": "neoverse-n1",
  a64fx: "a64fx",
};
const lab = path.join(process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi"), "lab");

const usage = (msg) => {
  console.error(
    `boot: ${msg}\nusage: node lab/boot.mjs --kernel GEN|IMAGE --cpu ${Object.keys(CPUS).join("|")} --initrd FILE [--cmd CMD] [--timeout S] [--out FILE] [--mem MB] [--smp N] [--append ARGS] [--icount OPTS] [--quiet] [--allow-no-kvm]`,
  );
  process.exit(2);
};
let opts;
try {
  opts = parseArgs({
    options: {
      kernel: { type: "string" },
      cpu: { type: "string" },
      initrd: { type: "string" },
      cmd: { type: "string" },
      timeout: { type: "string", default: "300" },
      out: { type: "string" },
      mem: { type: "string", default: "2048" },
      smp: { type: "string", default: "1" },
      append: { type: "string", default: "" },
      icount: { type: "string" },
      quiet: { type: "boolean", default: false },
      "allow-no-kvm": { type: "boolean", default: false },
    },
  }).values;
} catch (e) {
  usage(e.message);
}
if (!opts.kernel || !opts.cpu || !opts.initrd) usage("--kernel, --cpu and --initrd are required");
if (!(opts.cpu in CPUS)) usage(`unknown CPU model '${opts.cpu}'`);
const timeoutS = Number(opts.timeout);
if (!(timeoutS > 0)) usage("--timeout must be a positive number of seconds");

// Resolve the kernel: generation name via kernels.json, or a file path.
let kernel;
const kernelsFile = path.join(lab, "kernels.json");
const kernels = fs.existsSync(kernelsFile) ? JSON.parse(fs.readFileSync(kernelsFile, "utf8")) : {};
if (kernels[opts.kernel]) kernel = { gen: opts.kernel, ...kernels[opts.kernel] };
else if (fs.existsSync(opts.kernel))
  kernel = { gen: path.basename(opts.kernel), vmlinuz: path.resolve(opts.kernel) };
else
  usage(
    `unknown kernel '${opts.kernel}' (known: ${Object.keys(kernels).join(", ") || "none - run lab/setup.sh"})`,
  );
if (!fs.existsSync(kernel.vmlinuz)) usage(`${kernel.vmlinuz} missing: re-run lab/setup.sh`);
if (!fs.existsSync(opts.initrd)) usage(`initrd ${opts.initrd} not found`);

const label = `${kernel.gen}/${opts.cpu}`;
const outFile = path.resolve(opts.out ?? path.join(lab, "results", `${kernel.gen}_${opts.cpu}.json`));
const consoleFile = outFile.replace(/\.json$/, "") + ".console.log";
const consoleTmp = `${consoleFile}.tmp.${process.pid}`;
fs.mkdirSync(path.dirname(outFile), { recursive: true });

// The command travels base64-encoded on the kernel command line (see lab/init).
const append = [
  "console=ttyAMA0",
  "panic=-1",
  opts.append,
  opts.cmd ? `guestabi.cmd64=${Buffer.from(opts.cmd).toString("base64")}` : "",
]
  .filter(Boolean)
  .join(" ");
// arm64 kernels keep at most 2048 bytes of command line; longer commands belong in a payload script.
if (append.length > 2000)
  usage(
    `--cmd is too long for the kernel command line (${append.length} > 2000 bytes once base64-encoded); put it in a script in the payload`,
  );
const qemuArgs = [
  "-machine",
  "virt,virtualization=on,gic-version=3",
  "-cpu",
  CPUS[opts.cpu],
  "-smp",
  opts.smp,
  "-m",
  opts.mem,
  // -nodefaults: no default NIC etc. to probe; the virt board's PL011 UART is still there.
  // The console goes to a file, not a pipe: QEMU's PL011 writes one byte per syscall, and into a
  // pipe that ran at ~60 KB/s against ~400 KB/s into a file (measured with 8 MB of output).
  "-nodefaults",
  "-no-user-config",
  "-display",
  "none",
  "-no-reboot",
  "-chardev",
  `file,id=con,path=${consoleTmp.replace(/,/g, ",,")}`,
  "-serial",
  "chardev:con",
  "-kernel",
  kernel.vmlinuz,
  "-initrd",
  path.resolve(opts.initrd),
  "-append",
  append,
  // Guest time from instructions executed, not the host's clock: figures a loaded host cannot skew.
  ...(opts.icount ? ["-icount", opts.icount] : []),
];

const t0 = performance.now();
const secs = () => Math.round(performance.now() - t0) / 1000;
const marks = {};
let buf = "";
let timedOut = false;
fs.writeFileSync(consoleTmp, "");
const qemu = spawn("qemu-system-aarch64", qemuArgs, { stdio: ["ignore", "ignore", "pipe"] });
const stderrChunks = [];
qemu.stderr.on("data", (d) => stderrChunks.push(d));
// Follow the console file; record when each milestone first appears (only the new tail is searched).
const conFd = fs.openSync(consoleTmp, "r");
const chunk = Buffer.alloc(1 << 20);
const poll = () => {
  for (let n; (n = fs.readSync(conFd, chunk, 0, chunk.length, null)) > 0;) {
    buf += chunk.toString("latin1", 0, n); // the console is bytes; latin1 round-trips them 1:1
    const tail = buf.slice(-n - 64);
    for (const [k, re] of [
      ["kernel", /Booting Linux|Linux version/],
      ["init", /===GUESTABI-INFO /],
      ["run", /===GUESTABI-RUN===/],
      ["begin", /===GUESTABI-BEGIN===/],
      ["end", /===GUESTABI-END /],
    ]) {
      if (!(k in marks) && re.test(tail)) marks[k] = secs();
    }
  }
};
const poller = setInterval(poll, 50);
const killer = setTimeout(() => {
  timedOut = true;
  qemu.kill("SIGKILL");
}, timeoutS * 1000);
const cleanup = () => fs.rmSync(consoleTmp, { force: true });
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => {
    qemu.kill("SIGKILL");
    cleanup();
    process.exit(130);
  });

const [code, signal] = await new Promise((resolve) => {
  qemu.on("error", (e) => {
    cleanup();
    console.error(`boot: cannot run qemu-system-aarch64: ${e.message} (run lab/setup.sh)`);
    process.exit(5);
  });
  qemu.on("close", (c, s) => resolve([c, s]));
});
clearTimeout(killer);
clearInterval(poller);
poll();
fs.closeSync(conFd);
const totalS = secs();
const text = buf.replace(/\r\n/g, "\n");
const qemuStderr = Buffer.concat(stderrChunks).toString().trim();

// ---- parse the console protocol (lab/init) ----------------------------------------------------
const result = {
  kernel: {
    gen: kernel.gen,
    package: kernel.package,
    version: kernel.version,
    release: kernel.release,
    vmlinuz: kernel.vmlinuz,
  },
  cpu: opts.cpu,
  qemuCpu: CPUS[opts.cpu],
  initrd: path.resolve(opts.initrd),
  cmd: opts.cmd ?? null,
  status: "ok",
  message: "",
  rc: null,
  kvm: null,
  release: null,
  kvmDmesg: [],
  stdoutBytes: null,
  stdoutSha256: null,
  stdout: null,
  guestStderr: "",
  timings: {
    toKernelS: marks.kernel ?? null,
    toInitS: marks.init ?? null,
    toBeginS: marks.begin ?? null,
    toEndS: marks.end ?? null,
    totalS,
    guestUptimeAtInitS: null,
    guestUptimeAtEndS: null,
  },
  qemu: { exitCode: code, signal, stderr: qemuStderr, args: qemuArgs },
  consoleLog: consoleFile,
};
const info = text.match(/===GUESTABI-INFO release=(\S+) kvm=(\d) uptime=([\d.]+)===/);
if (info) {
  result.release = info[1];
  result.kvm = info[2] === "1";
  result.timings.guestUptimeAtInitS = Number(info[3]);
}
result.kvmDmesg = [...text.matchAll(/===GUESTABI-DMESG (.*)===/g)].map((m) => m[1]);
const run = text.indexOf("===GUESTABI-RUN===\n");
const begin = text.indexOf("===GUESTABI-BEGIN===\n");
const end = text.match(
  /===GUESTABI-END rc=(\d+) bytes=(\d+) sha256=([0-9a-f]+) enc=(\w+) uptime=([\d.]+)===/,
);
if (run >= 0) result.guestStderr = text.slice(run + 19, begin >= 0 ? begin : undefined);
let stdoutBuf = null;
if (begin >= 0 && end) {
  stdoutBuf = Buffer.from(text.slice(begin + 21, end.index).replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
  if (end[4] === "gzip") {
    try {
      stdoutBuf = zlib.gunzipSync(stdoutBuf);
    } catch {
      /* reported as corrupt below */
    }
  }
  result.rc = Number(end[1]);
  result.stdoutBytes = stdoutBuf.length;
  result.stdoutSha256 = createHash("sha256").update(stdoutBuf).digest("hex");
  result.timings.guestUptimeAtEndS = Number(end[5]);
  result.stdoutEncoding = end[4];
  result.stdout =
    stdoutBuf.length <= 1 << 20
      ? stdoutBuf.toString("utf8")
      : `(${stdoutBuf.length} bytes; see ${outFile.replace(/\.json$/, "")}.stdout)`;
  if (stdoutBuf.length !== Number(end[2]) || result.stdoutSha256 !== end[3]) {
    result.status = "corrupt";
    result.message = `${label}: output damaged in transit (got ${stdoutBuf.length} bytes, guest sent ${end[2]}; sha256 mismatch)`;
  }
}

if (result.status !== "ok") {
  // already set (corrupt)
} else if (timedOut) {
  result.status = "timeout";
  const where = marks.begin
    ? "while sending the output"
    : marks.run
      ? "while the command ran"
      : marks.init
        ? "in /init, before the command"
        : marks.kernel
          ? "after the kernel started, before /init"
          : "before any kernel output";
  result.message = `QEMU timed out after ${timeoutS} s booting ${kernel.gen}/${opts.cpu} (stuck ${where})`;
} else if (!marks.kernel) {
  result.status = "boot-failed";
  result.message = `${label}: QEMU exited (code ${code}) before the kernel printed anything${qemuStderr ? `: ${qemuStderr.split("\n").pop()}` : ""}`;
} else if (!info) {
  const panic = text.match(/Kernel panic[^\n]*/);
  result.status = "boot-failed";
  result.message = `${label}: kernel booted but /init never reported${panic ? ` (${panic[0]})` : ""}; see ${consoleFile}`;
} else if (!result.kvm && !opts["allow-no-kvm"]) {
  result.status = "no-kvm";
  result.message = `${label}: kernel ${result.release} booted but there is no /dev/kvm in the guest${result.kvmDmesg.length ? ` (dmesg: ${result.kvmDmesg.at(-1)})` : " (no kvm lines in dmesg)"}`;
} else if (!end) {
  result.status = "no-result";
  result.message = `${label}: the command's output never completed (guest died or powered off early); see ${consoleFile}`;
} else if (result.rc !== 0) {
  result.status = "command-failed";
  result.message = `${label}: guest command exited with rc=${result.rc}`;
} else {
  result.message = `${label}: ok, kernel ${result.release}, kvm=${result.kvm}, /init at ${marks.init} s, output at ${marks.end} s, QEMU exit at ${totalS} s`;
}

// ---- write everything atomically --------------------------------------------------------------
const atomic = (file, data) => {
  fs.writeFileSync(`${file}.tmp.${process.pid}`, data);
  fs.renameSync(`${file}.tmp.${process.pid}`, file);
};
fs.renameSync(consoleTmp, consoleFile);
if (stdoutBuf && stdoutBuf.length > 1 << 20) atomic(outFile.replace(/\.json$/, "") + ".stdout", stdoutBuf);
atomic(outFile, JSON.stringify(result, null, 2) + "\n");

if (stdoutBuf && !opts.quiet) process.stdout.write(stdoutBuf);
console.error(`boot: ${result.message}`);
const exits = { ok: 0, "command-failed": 1, "no-kvm": 3, timeout: 4 };
process.exitCode = exits[result.status] ?? 5;
