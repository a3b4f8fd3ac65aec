/**
 * Reading the documents commands take (profiles, snapshots, templates, fleets, restore trials) and
 * writing the ones they produce. Bad input is one UsageError line naming the file.
 */
import fs from "node:fs";
import { writeFileAtomic } from "../formats/atomic-write.js";
import { PROFILE_LIMITS, readProfile, requireGeneration } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { SNAPSHOT_JSON_FORMAT, SnapshotFormatError, snapshotFromJson } from "../formats/snapshot.js";
import type { Snapshot } from "../formats/snapshot.js";
import {
  decodeSnapshotBinary,
  looksLikeSnapshotBinary,
  readSnapshotFile,
} from "../formats/snapshot-binary.js";
import {
  TEMPLATE_JSON_FORMAT,
  TemplateFormatError,
  parseTemplateJson,
  templateFromJson,
} from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import { readFleetFile } from "../fleet/fleet.js";
import type { Fleet } from "../fleet/fleet.js";
import { exampleFleet } from "../fleet/plan.js";
import { readRestoreTrial } from "../formats/restore-trial.js";
import type { RestoreTrialDoc } from "../formats/restore-trial.js";
import { UsageError } from "./run-command.js";

const MAX_SUBJECT_BYTES = 1 << 30;

const errnoText = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** A file's bytes, refusing one larger than `maxBytes` before reading it. */
function readBytes(file: string, maxBytes: number, what: string): Buffer {
  try {
    const size = fs.statSync(file).size;
    if (size > maxBytes) throw new UsageError(`${file}: larger than ${maxBytes} bytes, not a ${what}`);
    return fs.readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${file}: ${errnoText(e)}`);
  }
}

/** Parses with `parse`, a format error becoming one UsageError line prefixed with the file name. */
function parseFormat<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof SnapshotFormatError || e instanceof TemplateFormatError)
      throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

/** A host profile (ProfileError, one line, when it is not one). */
export function readProfileFile(file: string): HostProfile {
  return readProfile(readBytes(file, PROFILE_LIMITS.fileBytes, "host profile").toString("utf8"), file);
}

/** A host profile of a kernel generation guestabi models. */
export function readModelledProfileFile(file: string): HostProfile {
  const p = readProfileFile(file);
  requireGeneration(p, file);
  return p;
}

export function readRestoreTrialFile(file: string): RestoreTrialDoc {
  return readRestoreTrial(readBytes(file, 4 * 1024 * 1024, "restore trial").toString("utf8"), file);
}

export function readTemplateFile(file: string): AbiTemplate {
  const text = readBytes(file, MAX_SUBJECT_BYTES, "ABI template").toString("utf8");
  return parseFormat(file, () => parseTemplateJson(text));
}

/** A snapshot (binary or JSON) or an ABI template (JSON), told apart by magic / "format". */
export function readSubjectFile(file: string): Snapshot | AbiTemplate {
  const bytes = readBytes(file, MAX_SUBJECT_BYTES, "snapshot or ABI template");
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return parseFormat(file, () => {
    if (looksLikeSnapshotBinary(u8)) return decodeSnapshotBinary(u8);
    let doc: unknown;
    try {
      doc = JSON.parse(bytes.toString("utf8"));
    } catch (e) {
      throw new UsageError(
        `${file}: neither a binary snapshot nor JSON (${(e as Error).message.split("\n")[0]})`,
      );
    }
    const format = (doc as { format?: unknown } | null)?.format;
    if (format === SNAPSHOT_JSON_FORMAT) return snapshotFromJson(doc);
    if (format === TEMPLATE_JSON_FORMAT) return templateFromJson(doc);
    throw new UsageError(
      `${file}: not a guestabi snapshot or ABI template (format is ${JSON.stringify(format) ?? "missing"})`,
    );
  });
}

/** A snapshot file of either encoding (its format errors already name the file). */
export async function readSnapshotInput(file: string): Promise<Snapshot> {
  try {
    return await readSnapshotFile(file);
  } catch (e) {
    if (e instanceof SnapshotFormatError) throw new UsageError(e.message);
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new UsageError(`cannot read ${file}: ${code}`);
    throw e;
  }
}

/** The fleet in `file` (FleetError, one line, for every problem), or the built-in example fleet. */
export function readFleetInput(file: string | undefined): Promise<Fleet> {
  return file === undefined ? exampleFleet() : readFleetFile(file);
}

/** Writes a file with `write` (atomically: a reader never sees a half-written file). */
export async function writeOutputFile(file: string, write: (file: string) => Promise<void>): Promise<void> {
  try {
    await write(file);
  } catch (e) {
    throw new UsageError(`cannot write ${file}: ${errnoText(e)}`);
  }
}

/** Writes `data` to `file` atomically. */
export function writeTextFile(file: string, data: string): Promise<void> {
  return writeOutputFile(file, (f) => writeFileAtomic(f, data));
}
