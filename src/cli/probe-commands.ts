/**
 * probe / restore-trial: measuring a host kernel's KVM. Both open a backend (real /dev/kvm now; the
 * simulator plugs in through `openSim`), write one JSON document to a file (atomically: a reader
 * never sees a half-written file) or to stdout with `--out -`.
 *
 * Exit codes: 2 with one line for bad input or a host without KVM (the backend's own message), 1 with
 * one line when KVM itself fails mid-probe (the operation and errno), 0 otherwise.
 */
import type { Command } from "commander";
import { writeFileAtomic } from "../formats/atomic-write.js";
import { readLinuxHostFacts } from "../probe/host-facts.js";
import { ProbeError, probe } from "../probe/probe.js";
import type { HostFacts } from "../formats/profile.js";
import { ProfileError, serializeProfile } from "../formats/profile.js";
import { serializeRestoreTrial } from "../formats/restore-trial.js";
import { restoreTrial } from "../probe/restore-trial.js";
import { CpuLabel } from "../formats/schema-parts.js";
import { VCPU_CONFIGS, configByName } from "../probe/session.js";
import { KvmError, KvmUnavailableError, openLinuxKvm } from "../kvm/index.js";
import type { KvmSystem } from "../kvm/index.js";
import { readProfileFile } from "./input-files.js";
import { UsageError } from "./output.js";

/** An open backend and what its host says about itself (null when it is not a real host). */
export interface BackendHandle {
  system: KvmSystem;
  hostFacts: HostFacts | null;
}

export interface ProbeCommandsOptions {
  /**
   * Opens the simulator for `--sim KERNEL[/CPU]` (e.g. "6.1/cortex-a72"). When given, both commands
   * take --sim; unknown specs should throw UsageError.
   */
  openSim?: (spec: string) => Promise<BackendHandle>;
}

async function openLinux(): Promise<BackendHandle> {
  try {
    const system = await openLinuxKvm();
    return { system, hostFacts: readLinuxHostFacts() };
  } catch (e) {
    // No KVM here (wrong OS/arch, no /dev/kvm, no permission): the backend's one-line reason.
    if (e instanceof KvmUnavailableError) throw new UsageError(e.message);
    throw e;
  }
}

function openBackend(opts: ProbeCommandsOptions, sim: string | undefined): Promise<BackendHandle> {
  if (sim === undefined) return openLinux();
  return opts.openSim!(sim);
}

function cpuLabelOption(text: string): string {
  if (!CpuLabel.safeParse(text).success)
    throw new UsageError(`bad --cpu-label '${text}' (letters, digits, '.', '_', '+', '-'; like cortex-a72)`);
  return text;
}

function configsOption(text: string): string[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length === 0) throw new UsageError("--configs needs at least one configuration name");
  for (const n of names)
    if (!configByName(n))
      throw new UsageError(
        `unknown configuration '${n}' (known: ${VCPU_CONFIGS.map((c) => c.name).join(", ")})`,
      );
  return names;
}

/** The document to `out`: stdout for "-", else a file replaced atomically (temp file + rename). */
async function writeOutput(out: string, text: string): Promise<void> {
  if (out === "-") {
    process.stdout.write(text);
    return;
  }
  try {
    await writeFileAtomic(out, text);
  } catch (e) {
    throw new UsageError(`cannot write ${out}: ${(e as Error).message.split("\n")[0]}`);
  }
}

/** A failure of KVM itself: one line, exit code 1, nothing on stdout. */
function failed(e: unknown): boolean {
  if (!(e instanceof ProbeError || e instanceof KvmError)) return false;
  process.stderr.write(`guestabi: ${e.message.split("\n")[0]}\n`);
  process.exitCode = 1;
  return true;
}

const megabytes = (text: string) => (Buffer.byteLength(text) / 1e6).toFixed(2);

export function registerProbeCommands(program: Command, opts: ProbeCommandsOptions = {}): void {
  const withSim = (cmd: Command): Command =>
    opts.openSim
      ? cmd.option("--sim <kernel[/cpu]>", "use the simulator of a kernel generation (and CPU)")
      : cmd;

  withSim(
    program
      .command("probe")
      .description("measure this host kernel's KVM and write its host profile (JSON)")
      .option("--out <file>", "write the profile to FILE atomically ('-': stdout)", "-")
      .option(
        "--cpu-label <name>",
        "what the CPU is, recorded in the profile (e.g. cortex-a72)",
        cpuLabelOption,
      )
      .option(
        "--configs <list>",
        `comma-separated vCPU configurations (default: all the host supports of ${VCPU_CONFIGS.map((c) => c.name).join(", ")})`,
        configsOption,
      )
      .option("--quiet", "no progress lines on stderr")
      .option("--json", "accepted for uniformity: the output is always JSON"),
  ).action(
    async (o: { out: string; cpuLabel?: string; configs?: string[]; quiet?: boolean; sim?: string }) => {
      const t0 = performance.now();
      const progress = (line: string) => {
        if (!o.quiet) process.stderr.write(`guestabi: probe: ${line}\n`);
      };
      const backend = await openBackend(opts, o.sim);
      let text: string;
      try {
        const profile = probe(backend.system, {
          cpuLabel: o.cpuLabel ?? null,
          ...(o.configs ? { configs: o.configs } : {}),
          hostFacts: backend.hostFacts,
          onProgress: progress,
        });
        text = serializeProfile(profile);
      } catch (e) {
        if (failed(e)) return;
        throw e;
      } finally {
        backend.system.close();
      }
      await writeOutput(o.out, text);
      progress(
        `${o.out === "-" ? "profile written to stdout" : `wrote ${o.out}`} (${megabytes(text)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      );
    },
  );

  withSim(
    program
      .command("restore-trial")
      .description("set the register state saved in other kernels' profiles on this kernel, and report")
      .requiredOption("--from <profile...>", "host profiles whose psci-0.2 after-run state to restore")
      .option("--out <file>", "write the result to FILE atomically ('-': stdout)", "-")
      .option("--cpu-label <name>", "what this host's CPU is, recorded in the result", cpuLabelOption)
      .option("--json", "accepted for uniformity: the output is always JSON"),
  ).action(async (o: { from: string[]; out: string; cpuLabel?: string; sim?: string }) => {
    // Every input is checked before KVM is touched: bad input prints one line and nothing else.
    const sources = o.from.map((file) => ({ profile: readProfileFile(file), source: file }));
    const backend = await openBackend(opts, o.sim);
    let text: string;
    try {
      text = serializeRestoreTrial(restoreTrial(backend.system, sources, { cpuLabel: o.cpuLabel ?? null }));
    } catch (e) {
      if (e instanceof ProfileError) throw new UsageError(e.message);
      if (failed(e)) return;
      throw e;
    } finally {
      backend.system.close();
    }
    await writeOutput(o.out, text);
  });
}
