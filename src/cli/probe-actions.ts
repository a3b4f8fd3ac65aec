/** probe / restore-trial: what they do (probe-commands.ts registers them). */
import { serializeProfile } from "../formats/profile.js";
import { probe as probeHost } from "../probe/probe.js";
import { serializeRestoreTrial } from "../formats/restore-trial.js";
import { restoreTrial as restoreTrialOn } from "../probe/restore-trial.js";
import { withBackend } from "./backends.js";
import type { OpenSim } from "./backends.js";
import { checkOutput, readEach, readProfileFile, writeOutput } from "./input-files.js";
import { STDOUT_PATH } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

const megabytes = (text: string) => (Buffer.byteLength(text) / 1e6).toFixed(2);

export interface ProbeOptions {
  out: string;
  cpuLabel?: string;
  configs?: string[];
  quiet?: boolean;
  sim?: string;
}

export async function probe(o: ProbeOptions, openSim: OpenSim | undefined): Promise<CommandResult> {
  await checkOutput(o.out);
  const t0 = performance.now();
  const progress = (line: string) => {
    if (!o.quiet) process.stderr.write(`guestabi: probe: ${line}\n`);
  };
  const text = await withBackend(o.sim, openSim, (backend) =>
    serializeProfile(
      probeHost(backend.system, {
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
}

export interface RestoreTrialOptions {
  from: string[];
  out: string;
  cpuLabel?: string;
  sim?: string;
}

export async function restoreTrial(
  o: RestoreTrialOptions,
  openSim: OpenSim | undefined,
): Promise<CommandResult> {
  // Every input is checked before KVM is touched: bad input prints one line and nothing else.
  await checkOutput(o.out, o.from);
  const profiles = await readEach(o.from, readProfileFile);
  const sources = profiles.map((profile, i) => ({ profile, source: o.from[i]! }));
  const text = await withBackend(o.sim, openSim, (backend) =>
    serializeRestoreTrial(restoreTrialOn(backend.system, sources, { cpuLabel: o.cpuLabel ?? null })),
  );
  return writeOutput(o.out, text, o.from);
}
