// The real-kernel test. GUESTABI_LAB names what to run: "all" (every kernel x CPU model of the lab, and
// the cross-kernel restore matrix) or a list like "6.1/cortex-a72,7.3/cortex-a72". For each, boot the
// Debian kernel under QEMU, run `guestabi probe` on its real /dev/kvm (the koffi backend end to end) and
// require the fresh profile to agree with the committed lab/profiles/KERNEL-CPU.json; for every CPU
// model whose restore-matrix kernels (lab/lab-kernels.json) are all listed, run the restore trials too
// and compare them with lab/profiles/restore/. Kernels the simulator does not model (6.18-bpo, 7.3) are
// held to their committed profiles all the same; only src/lab/sim-conformance.test.ts compares with the
// simulator. A difference means the committed data no longer matches the kernel: the kernel is right,
// so re-run `npm run lab`. Needs lab/setup.sh and a built dist/; skipped when GUESTABI_LAB is unset.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import {
  CPUS,
  KERNELS,
  LAB_KERNELS,
  REPO,
  boot,
  buildInitramfs,
  initramfsWithSaved,
  probeCommand,
  profileFile,
  restoreCommand,
  restoreFile,
  restoreKernels,
} from "./lab-lib.mjs";

const spec = process.env.GUESTABI_LAB ?? "";
const targets =
  spec === "all"
    ? KERNELS.flatMap((k) => CPUS.map((c) => [k, c]))
    : spec
        .split(",")
        .filter(Boolean)
        .map((t) => t.split("/"));
const committed = path.join(REPO, "lab/profiles");
for (const [kernel, cpu] of targets)
  if (!KERNELS.includes(kernel) || !CPUS.includes(cpu))
    throw new Error(
      `GUESTABI_LAB: unknown '${kernel}/${cpu}' (kernels: ${KERNELS.join(", ")}; CPU models: ${CPUS.join(", ")})`,
    );
const restoreCpus = CPUS.filter((c) =>
  restoreKernels(c).every((k) => targets.some(([tk, tc]) => tk === k && tc === c)),
);

// Two guests at a time: QEMU emulates one vCPU per thread and CI has two cores.
describe(
  "real kernels (GUESTABI_LAB)",
  { skip: targets.length === 0 && "GUESTABI_LAB is not set", concurrency: 2 },
  () => {
    let initrd;
    const initramfs = () => (initrd ??= buildInitramfs());
    const lib = async () => ({
      ...(await import(path.join(REPO, "dist/formats/profile.js"))),
      ...(await import(path.join(REPO, "dist/formats/restore-trial.js"))),
      ...(await import(path.join(REPO, "dist/lab/profile-diff.js"))),
    });

    for (const [kernel, cpu] of targets) {
      it(`probes ${kernel}/${cpu} on real KVM and matches lab/profiles`, async () => {
        const { readProfile, diffProfiles, formatDifferences } = await lib();
        const file = profileFile(committed, kernel, cpu);
        assert.ok(fs.existsSync(file), `no committed profile ${path.relative(REPO, file)}`);
        const r = await boot({ kernel, cpu, initrd: initramfs(), cmd: probeCommand(cpu), timeoutS: 900 });
        assert.equal(r.code, 0, `lab/boot.mjs ${kernel}/${cpu}: ${r.problem}`);
        const fresh = readProfile(r.stdout, `${kernel}/${cpu} (fresh)`);
        const reference = readProfile(fs.readFileSync(file, "utf8"), file);
        assert.equal(fresh.backend, "linux");
        // uname -r of the kernel's line: 6.12.95+deb12-arm64 (6.12), 6.18.15+deb13-arm64 (6.18-bpo), 7.3-arm64
        const { line } = LAB_KERNELS[kernel];
        assert.match(fresh.host.release, new RegExp(`^${line.replace(".", "\\.")}[.+-]`));
        assert.equal(fresh.host.generation, reference.host.generation, "the kernel generation it maps to");
        assert.ok(
          fresh.configs.every((c) => c.init === "ok" && c.firstRun?.completed),
          "every configuration initialised and ran the guest program to its end",
        );
        const diffs = diffProfiles(reference, fresh);
        assert.equal(
          diffs.length,
          0,
          `${kernel}/${cpu}: ${diffs.length} differences from the committed profile (kernel ${fresh.host.release}, committed ${reference.host.release}):\n${formatDifferences(diffs, 40)}`,
        );
      });
    }

    for (const cpu of restoreCpus)
      for (const kernel of restoreKernels(cpu)) {
        it(`restores on ${kernel}/${cpu} the state saved on every kernel, as lab/profiles/restore says`, async () => {
          const { readRestoreTrial, diffRestoreTrials, formatDifferences } = await lib();
          const matrix = restoreKernels(cpu);
          const saved = Object.fromEntries(matrix.map((k) => [k, profileFile(committed, k, cpu)]));
          const withSaved = initramfsWithSaved(initramfs(), saved);
          const r = await boot({
            kernel,
            cpu,
            initrd: withSaved,
            cmd: restoreCommand(cpu, matrix),
            timeoutS: 900,
          });
          fs.rmSync(path.dirname(withSaved), { recursive: true, force: true });
          assert.equal(r.code, 0, `lab/boot.mjs ${kernel}/${cpu}: ${r.problem}`);
          const file = restoreFile(committed, kernel, cpu);
          const diffs = diffRestoreTrials(
            readRestoreTrial(fs.readFileSync(file, "utf8"), file),
            readRestoreTrial(r.stdout, `${kernel}/${cpu} (fresh)`),
          );
          assert.equal(
            diffs.length,
            0,
            `${kernel}/${cpu}: ${diffs.length} differences:\n${formatDifferences(diffs, 40)}`,
          );
        });
      }
  },
);
