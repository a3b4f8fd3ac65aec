// What lab/run.mjs (npm run lab) and lab/lab.test.mjs share: the lab's matrix, building the initramfs,
// adding saved profiles to it, and booting a kernel with one guestabi command.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
export const CPUS = ["max", "cortex-a57", "cortex-a72", "cortex-a76", "neoverse-n1", "a64fx"];
/** The lab's kernels, oldest first (lab/lab-kernels.json: name -> Debian suite, kernel line, restoreCpus). */
export const LAB_KERNELS = JSON.parse(fs.readFileSync(path.join(REPO, "lab/lab-kernels.json"), "utf8"));
export const KERNELS = Object.keys(LAB_KERNELS);
/** The kernels of the cross-kernel restore matrix on `cpu`: those whose restoreCpus (default: all) list it. */
export const restoreKernels = (cpu) =>
  KERNELS.filter((k) => (LAB_KERNELS[k].restoreCpus ?? CPUS).includes(cpu));
export const LAB_CACHE = path.join(
  process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi"),
  "lab",
);

/**
 * Records in <dir>/kernels/<kernel>.json which Debian kernel a profile in <dir> was probed on (suite,
 * package, version, release from lab/setup.sh's kernels.json): the README's table of measured kernels.
 */
export function recordKernel(dir, kernel) {
  const known = JSON.parse(fs.readFileSync(path.join(LAB_CACHE, "kernels.json"), "utf8"))[kernel];
  if (!known) throw new Error(`kernel ${kernel} is not in ${path.join(LAB_CACHE, "kernels.json")}`);
  const { suite, package: pkg, version, release } = known;
  const file = path.join(dir, "kernels", `${kernel}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(
    `${file}.tmp`,
    JSON.stringify({ name: kernel, suite, package: pkg, version, release }, null, 2) + "\n",
  );
  fs.renameSync(`${file}.tmp`, file);
}

export const profileFile = (dir, kernel, cpu) => path.join(dir, `${kernel}-${cpu}.json`);
export const restoreFile = (dir, kernel, cpu) => path.join(dir, "restore", `${kernel}-${cpu}.json`);
export const probeCommand = (cpu) => `node dist/cli/main.js probe --out - --cpu-label ${cpu}`;
export const restoreCommand = (cpu, saved) =>
  `node dist/cli/main.js restore-trial ${saved.map((k) => `--from saved/${k}.json`).join(" ")} --cpu-label ${cpu} --out -`;

/** The project's initramfs (uncompressed: every boot is ~2 s faster); returns its path. */
export function buildInitramfs() {
  const r = spawnSync("bash", ["lab/build-initramfs.sh", REPO, "--uncompressed"], {
    cwd: REPO,
    encoding: "utf8",
  });
  if (r.status !== 0)
    throw new Error(`lab/build-initramfs.sh failed: ${(r.stderr || r.stdout).trim().split("\n").pop()}`);
  return r.stdout.trim().split("\n").pop();
}

/**
 * `initrd` plus one more cpio archive holding /payload/saved/<kernel>.json for each given profile (the
 * kernel unpacks concatenated archives), written into a fresh temporary directory; returns its path.
 */
export function initramfsWithSaved(initrd, savedProfiles) {
  return initramfsWithFiles(
    initrd,
    Object.fromEntries(Object.entries(savedProfiles).map(([k, file]) => [`payload/saved/${k}.json`, file])),
  );
}

/**
 * `initrd` plus one more cpio archive holding each host file at its path in the guest (keys such as
 * "payload/saved/6.1.json"; modes kept), written into a fresh temporary directory; returns its path.
 */
export function initramfsWithFiles(initrd, files) {
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-restore-"));
  const root = path.join(stage, "root");
  for (const [guestPath, file] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, guestPath)), { recursive: true });
    fs.copyFileSync(file, path.join(root, guestPath));
  }
  const out = path.join(stage, "initrd.cpio");
  fs.copyFileSync(initrd, out);
  // The shell appends the archive: the profiles are megabytes, more than spawnSync buffers.
  const cpio = spawnSync(
    "sh",
    ["-c", `cd '${root}' && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet >> '${out}'`],
    { encoding: "utf8" },
  );
  if (cpio.status !== 0)
    throw new Error(`cpio failed: ${cpio.stderr || cpio.error?.message || `exit ${cpio.status}`}`);
  return out;
}

/**
 * Boots kernel/cpu with `initrd` and runs `cmd` in the guest (lab/boot.mjs); resolves with boot.mjs's
 * exit code, the guest command's stdout (exact bytes, as a string) and the last line of its stderr.
 */
export function boot({ kernel, cpu, initrd, cmd, timeoutS = 1500, resultFile, icount }) {
  return new Promise((resolve) => {
    const args = ["lab/boot.mjs", "--kernel", kernel, "--cpu", cpu, "--initrd", initrd, "--cmd", cmd];
    args.push("--timeout", String(timeoutS));
    if (icount) args.push("--icount", icount);
    if (resultFile) args.push("--out", resultFile);
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    let err = "";
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString("utf8"),
        problem: err.trim().split("\n").pop() || `boot.mjs exit ${code}`,
      }),
    );
  });
}
