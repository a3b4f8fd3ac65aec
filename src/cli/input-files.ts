/**
 * Reading the documents commands take (profiles, snapshots, templates, fleets, restore trials), each
 * with a bound on its size (formats/bounded-read.ts), and writing the ones they produce: "-" is stdout,
 * anything else a regular file that is not an input, written atomically. Bad input is one UsageError
 * line naming the file.
 */
import { stat } from "node:fs/promises";
import { OutputTargetError, checkOutputTarget, writeFileAtomic } from "../formats/atomic-write.js";
import { InputTooLargeError, readBounded } from "../formats/bounded-read.js";
import { PROFILE_LIMITS, readProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { SNAPSHOT_JSON_FORMAT, SnapshotFormatError, snapshotFromJson } from "../formats/snapshot.js";
import type { Snapshot } from "../formats/snapshot.js";
import {
  SNAPSHOT_FILE_BYTES,
  decodeSnapshotBinary,
  looksLikeSnapshotBinary,
  readSnapshotFile,
} from "../formats/snapshot-binary.js";
import {
  TEMPLATE_JSON_FORMAT,
  TemplateFormatError,
  readTemplateFile as readTemplate,
  templateFromJson,
} from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import { readFleetFile } from "../fleet/fleet.js";
import type { Fleet } from "../fleet/fleet.js";
import { exampleFleet } from "../fleet/plan.js";
import { readRestoreTrial } from "../formats/restore-trial.js";
import type { RestoreTrialDoc } from "../formats/restore-trial.js";
import { isArtifactError, readVmmArtifact } from "../vmm/artifacts.js";
import type { VmmArtifact } from "../vmm/artifacts.js";
import { STDOUT_PATH, UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

const RESTORE_TRIAL_BYTES = 4 << 20;

const errnoText = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** A problem reading `file` as one UsageError line: its errno, the limit it passed, its format error. */
function readError(file: string, e: unknown): unknown {
  if (e instanceof UsageError) return e;
  if (e instanceof InputTooLargeError || e instanceof SnapshotFormatError || e instanceof TemplateFormatError)
    return new UsageError(e.message);
  const code = (e as NodeJS.ErrnoException).code;
  return code ? new UsageError(`cannot read ${file}: ${code}`) : e;
}

/** Runs `read`, its errors becoming readError's one line. */
async function reading<T>(file: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    throw readError(file, e);
  }
}

/** A file's bytes, at most `limit` of them (bounded-read.ts; `what` names the limit in the error). */
export const readBytes = (file: string, limit: number, what: string): Promise<Buffer> =>
  reading(file, () => readBounded(file, limit, what));

/** Parses with `parse`, a format error becoming one UsageError line prefixed with the file name. */
function parseFormat<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof TemplateFormatError || isArtifactError(e)) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

/** A host profile (ProfileError, one line, when it is not one). */
export async function readProfileFile(file: string): Promise<HostProfile> {
  const bytes = await readBytes(file, PROFILE_LIMITS.fileBytes, "a host profile");
  return readProfile(bytes.toString("utf8"), file);
}

/** Each file read by `read`, in order (the first bad one is the error). */
export async function readEach<T>(
  files: readonly string[],
  read: (file: string) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (const f of files) out.push(await read(f));
  return out;
}

export async function readRestoreTrialFile(file: string): Promise<RestoreTrialDoc> {
  const bytes = await readBytes(file, RESTORE_TRIAL_BYTES, "a restore trial");
  return readRestoreTrial(bytes.toString("utf8"), file);
}

export function readTemplateFile(file: string): Promise<AbiTemplate> {
  return reading(file, () => readTemplate(file));
}

/** A subject of `check`, and the VMM artifact it was read from (absent for guestabi's own files). */
export interface CheckSubject {
  subject: Snapshot | AbiTemplate;
  artifact?: Omit<VmmArtifact, "snapshot">;
}

/**
 * A snapshot (binary or JSON) or an ABI template (JSON), told apart by magic / "format", or what a VMM
 * wrote (vmm/artifacts.ts: a QEMU migration stream, a Firecracker state file, a Cloud Hypervisor
 * state.json).
 */
export async function readCheckSubject(file: string): Promise<CheckSubject> {
  const bytes = await readBytes(file, SNAPSHOT_FILE_BYTES, "a snapshot, ABI template or VMM snapshot");
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return parseFormat(file, () => {
    if (looksLikeSnapshotBinary(u8)) return { subject: decodeSnapshotBinary(u8) };
    const read = readVmmArtifact(u8);
    if (read) {
      const { snapshot, ...artifact } = read;
      return { subject: snapshot, artifact };
    }
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw new UsageError(
        `${file}: neither a binary snapshot, a VMM snapshot nor JSON (${(e as Error).message.split("\n")[0]})`,
      );
    }
    const format = (doc as { format?: unknown } | null)?.format;
    if (format === SNAPSHOT_JSON_FORMAT) return { subject: snapshotFromJson(doc) };
    if (format === TEMPLATE_JSON_FORMAT) return { subject: templateFromJson(doc) };
    throw new UsageError(
      `${file}: not a guestabi snapshot or ABI template (format is ${JSON.stringify(format) ?? "missing"}), nor a QEMU, Firecracker or Cloud Hypervisor snapshot`,
    );
  });
}

/** The subject of a file readCheckSubject reads. */
export async function readSubjectFile(file: string): Promise<Snapshot | AbiTemplate> {
  return (await readCheckSubject(file)).subject;
}

/** A snapshot file of either encoding. */
export function readSnapshotInput(file: string): Promise<Snapshot> {
  return reading(file, () => readSnapshotFile(file));
}

/** The fleet in `file` (FleetError, one line, for every problem), or the built-in example fleet. */
export function readFleetInput(file: string | undefined): Promise<Fleet> {
  return file === undefined ? exampleFleet() : readFleetFile(file);
}

// ---- outputs ----------------------------------------------------------------------------------------

/** `--out -` with `--json`: both would be stdout. */
export function refuseTwoStdouts(out: string | undefined, json: boolean | undefined): void {
  if (out === STDOUT_PATH && json)
    throw new UsageError("--json and --out - would both print to stdout: choose one");
}

const writeError = (file: string, e: unknown): UsageError =>
  new UsageError(`cannot write ${file}: ${e instanceof OutputTargetError ? e.message : errnoText(e)}`);

/**
 * Refuses an output path that would destroy something: a target that is not a regular file
 * (atomic-write.ts's checkOutputTarget: a device node, a FIFO, a directory), or a file the command
 * reads, `inputs` (the same file by device and inode: a hard link or symlink to an input too).
 * Commands call it before their work too, so that a bad --out costs nothing.
 */
export async function checkOutput(file: string, inputs: readonly string[] = []): Promise<void> {
  if (file === STDOUT_PATH) return;
  let out;
  try {
    out = await checkOutputTarget(file);
  } catch (e) {
    throw writeError(file, e);
  }
  if (out === null) return;
  for (const input of inputs) {
    const st = await stat(input).catch(() => null);
    if (st !== null && st.dev === out.dev && st.ino === out.ino)
      throw new UsageError(`cannot write ${file}: it is the input ${input}, refusing to replace it`);
  }
}

/** The output directory: an existing directory, or a path to create (nothing else there). */
export async function checkOutDir(dir: string): Promise<void> {
  const st = await stat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return null;
    throw new UsageError(`cannot write to ${dir}: ${e.code ?? e.message}`);
  });
  if (st !== null && !st.isDirectory()) throw new UsageError(`--out-dir ${dir} is not a directory`);
}

/** checkOutput, and refuses a file that exists unless `force` (never an input, even then). */
export async function checkNewOutput(file: string, inputs: readonly string[], force: boolean): Promise<void> {
  await checkOutput(file, inputs);
  if (!force && (await stat(file).catch(() => null)) !== null)
    throw new UsageError(`${file} exists (--force replaces it)`);
}

/**
 * Writes a command's document to `out`: stdout for "-" (returned as the result's stdout), else the
 * file, atomically (a reader never sees a half-written file), after checkOutput.
 */
export async function writeOutput(
  out: string,
  data: string | Uint8Array,
  inputs: readonly string[] = [],
): Promise<CommandResult> {
  if (out === STDOUT_PATH) return { stdout: data };
  await checkOutput(out, inputs);
  try {
    await writeFileAtomic(out, data);
  } catch (e) {
    throw writeError(out, e);
  }
  return {};
}
