/**
 * probe / restore-trial: measuring a host kernel's KVM. Both run on a backend (this host's /dev/kvm,
 * or with `openSim` the simulator of --sim) and write one JSON document to a file (atomically: a
 * reader never sees a half-written file) or to stdout with `--out -`.
 *
 * Exit codes (run-command.ts): 2 with one line for bad input or a host without KVM (the backend's own
 * message), 1 with one line when KVM itself fails mid-probe (the operation and errno), 0 otherwise.
 */
import type { Command } from "commander";
import { serializeProfile } from "../formats/profile.js";
import { probe } from "../probe/probe.js";
import { serializeRestoreTrial } from "../formats/restore-trial.js";
import { restoreTrial } from "../probe/restore-trial.js";
import { VCPU_CONFIGS } from "../probe/session.js";
import { withBackend } from "./backends.js";
import type { OpenSim } from "./backends.js";
import { STDOUT_PATH, checkOutput, readEach, readProfileFile, writeOutput } from "./input-files.js";
import { configsOption, cpuLabelOption } from "./options.js";
import { command } from "./run-command.js";

export interface ProbeCommandsOptions {
  /** Opens the simulator for `--sim KERNEL[/CPU]`. When given, both commands take --sim. */
  openSim?: OpenSim;
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
      .option("--out <file>", "write the profile to FILE atomically ('-': stdout)", STDOUT_PATH)
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
    command(
      async (o: { out: string; cpuLabel?: string; configs?: string[]; quiet?: boolean; sim?: string }) => {
        await checkOutput(o.out);
        const t0 = performance.now();
        const progress = (line: string) => {
          if (!o.quiet) process.stderr.write(`guestabi: probe: ${line}\n`);
        };
        const text = await withBackend(o.sim, opts.openSim, (backend) =>
          serializeProfile(
            probe(backend.system, {
              cpuLabel: o.cpuLabel ?? null,
              ...(o.configs ? { configs: o.configs } : {}),
              hostFacts: backend.hostFacts,
              onProgress: progress,
            }),
          ),
        );
        const r = await writeOutput(o.out, text);
        const done = `${o.out === STDOUT_PATH ? "profile written to stdout" : `wrote ${o.out}`} (${megabytes(text)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`;
        return { ...r, notes: o.quiet ? [] : [`probe: ${done}`] };
      },
    ),
  );

  withSim(
    program
      .command("restore-trial")
      .description("set the register state saved in other kernels' profiles on this kernel, and report")
      .requiredOption("--from <profile...>", "host profiles whose psci-0.2 after-run state to restore")
      .option("--out <file>", "write the result to FILE atomically ('-': stdout)", STDOUT_PATH)
      .option("--cpu-label <name>", "what this host's CPU is, recorded in the result", cpuLabelOption)
      .option("--json", "accepted for uniformity: the output is always JSON"),
  ).action(
    command(async (o: { from: string[]; out: string; cpuLabel?: string; sim?: string }) => {
      // Every input is checked before KVM is touched: bad input prints one line and nothing else.
      await checkOutput(o.out, o.from);
      const profiles = await readEach(o.from, readProfileFile);
      const sources = profiles.map((profile, i) => ({ profile, source: o.from[i]! }));
      const text = await withBackend(o.sim, opts.openSim, (backend) =>
        serializeRestoreTrial(restoreTrial(backend.system, sources, { cpuLabel: o.cpuLabel ?? null })),
      );
      return writeOutput(o.out, text, o.from);
    }),
  );
}
