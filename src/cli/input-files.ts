/** Reading the documents commands take (profiles, restore trials, ...): bad input is one UsageError line. */
import fs from "node:fs";
import { PROFILE_LIMITS, ProfileError, readProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { readRestoreTrial } from "../formats/restore-trial.js";
import type { RestoreTrialDoc } from "../formats/restore-trial.js";
import { UsageError } from "./output.js";

/** A file's text, refusing one larger than `maxBytes` before reading it. */
export function readTextFile(file: string, maxBytes: number, what: string): string {
  try {
    const size = fs.statSync(file).size;
    if (size > maxBytes) throw new UsageError(`${file}: larger than ${maxBytes} bytes, not a ${what}`);
    return fs.readFileSync(file, "utf8");
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** Parses with `parse`, turning its ProfileError (the documents' one-line error) into a UsageError. */
function parseOrUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof ProfileError) throw new UsageError(e.message);
    throw e;
  }
}

export function readProfileFile(file: string): HostProfile {
  const text = readTextFile(file, PROFILE_LIMITS.fileBytes, "host profile");
  return parseOrUsage(() => readProfile(text, file));
}

export function readRestoreTrialFile(file: string): RestoreTrialDoc {
  const text = readTextFile(file, 4 * 1024 * 1024, "restore trial");
  return parseOrUsage(() => readRestoreTrial(text, file));
}
