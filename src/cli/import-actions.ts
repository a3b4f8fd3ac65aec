/** import: what it does (import-commands.ts registers it). */
import { mkdir } from "node:fs/promises";
import { basename, join } from "node:path";
import { PROFILE_LIMITS, serializeProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { FIRECRACKER_LIMITS } from "../vmm/firecracker-evidence.js";
import { importHostProfile } from "../vmm/profile-import.js";
import { checkNewOutput, checkOutDir, readBytes, readEach, writeOutput } from "./input-files.js";
import { toJson } from "./output.js";
import { UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

/** The largest file `import` (and `inventory add`) reads: a Firecracker dump or a host profile. */
export const IMPORT_BYTES = Math.max(FIRECRACKER_LIMITS.fileBytes, PROFILE_LIMITS.fileBytes);

interface ImportCommandOptions {
  outDir: string;
  cpuLabel?: string;
  release?: string;
  force?: boolean;
  json?: boolean;
}

/** Where `file`'s profile goes: DIR/<base name without .json>.profile.json. */
function importOutputPath(dir: string, file: string): string {
  return join(dir, basename(file).replace(/\.json$/, "") + ".profile.json");
}

/** What was written for one input: its kernel, its registers (of psci-0.2, or the first config), evidence. */
interface Written {
  input: string;
  output: string;
  release: string;
  config: string | null;
  configs: number;
  registers: number;
  omitted: number;
  evidence: string;
}

function written(input: string, output: string, p: HostProfile): Written {
  const c = p.configs.find((x) => x.name === "psci-0.2") ?? p.configs[0];
  return {
    input,
    output,
    release: p.host.release,
    config: c?.name ?? null,
    configs: p.configs.length,
    registers: c?.reset?.length ?? 0,
    omitted: c?.omitted?.length ?? 0,
    evidence: p.evidence?.source ?? "probe",
  };
}

/** "wrote OUT: RELEASE, N registers (+K omitted), evidence SOURCE". */
function writtenLine(w: Written): string {
  const omitted = w.omitted ? ` (+${w.omitted} omitted)` : "";
  const regs = w.config === null ? "no vCPU configurations" : `${w.registers} registers${omitted}`;
  const configs = w.configs > 1 ? ` in ${w.config} of ${w.configs} configurations` : "";
  return `wrote ${w.output}: ${w.release}, ${regs}${configs}, evidence ${w.evidence}`;
}

/** Refuses outputs that collide with each other, exist (without --force), or are inputs. */
async function checkOutputs(outs: string[], files: string[], force: boolean): Promise<void> {
  for (let i = 0; i < outs.length; i++) {
    const first = outs.indexOf(outs[i]!);
    if (first !== i)
      throw new UsageError(`${files[first]} and ${files[i]} would both be written to ${outs[i]}`);
    await checkNewOutput(outs[i]!, files, force);
  }
}

export async function importProfiles(files: string[], o: ImportCommandOptions): Promise<CommandResult> {
  await checkOutDir(o.outDir);
  const outs = files.map((f) => importOutputPath(o.outDir, f));
  const texts = await readEach(files, async (file) => {
    const bytes = await readBytes(file, IMPORT_BYTES, "a Firecracker dump or host profile");
    const profile = importHostProfile(bytes.toString("utf8"), {
      source: file,
      ...(o.release !== undefined ? { release: o.release } : {}),
      ...(o.cpuLabel !== undefined ? { cpuLabel: o.cpuLabel } : {}),
    });
    return { profile, text: serializeProfile(profile) };
  });
  await checkOutputs(outs, files, Boolean(o.force));
  await mkdir(o.outDir, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot create ${o.outDir}: ${e.code ?? e.message}`);
  });
  const done: Written[] = [];
  for (const [i, { profile, text }] of texts.entries()) {
    await writeOutput(outs[i]!, text, files);
    done.push(written(files[i]!, outs[i]!, profile));
  }
  return { stdout: o.json ? toJson(done) : done.map((w) => writtenLine(w) + "\n").join("") };
}
