/**
 * `guestabi import`: a host profile from evidence a user already has. A JSON document with a "format"
 * is a guestabi document (a host profile of this or an older guestabi: validated, and given evidence
 * when it has none); anything else is read as a Firecracker fingerprint or template dump
 * (firecracker-import.ts).
 */
import { ProfileError, readProfile } from "../formats/profile.js";
import type { Evidence, HostProfile } from "../formats/profile.js";
import { FIRECRACKER_LIMITS, readFirecrackerEvidence } from "./firecracker-evidence.js";
import { evidenceFrom, profileFromFirecracker } from "./firecracker-import.js";
import type { FirecrackerImportOptions } from "./firecracker-import.js";

export type ImportOptions = FirecrackerImportOptions;

/** What a guestabi profile lacks, from the parts a probe writes (an older probe may not have). */
function profileGaps(p: HostProfile): string[] {
  const gaps: string[] = [];
  if (p.kvm === null) gaps.push("KVM capabilities and IPA size");
  if (!p.configs.some((c) => c.experiments !== undefined)) gaps.push("write experiments");
  if (!p.configs.some((c) => c.writableMasks !== undefined)) gaps.push("writable masks");
  if (!p.configs.some((c) => c.firstRun !== undefined)) gaps.push("guest view (first run)");
  return gaps;
}

/**
 * A guestabi host profile as imported: its evidence kept when it has one, else recorded as "a guestabi
 * profile" (which guestabi, which backend, when), with the parts it lacks; --cpu-label replaces its
 * label; a --release other than its own is refused.
 */
function importGuestabiProfile(text: string, opts: ImportOptions): HostProfile {
  const p = readProfile(text, opts.source);
  if (opts.release !== undefined && opts.release !== p.host.release)
    throw new ProfileError(
      `${opts.source}: the profile records kernel ${p.host.release}, --release says ${opts.release}`,
    );
  const evidence: Evidence = p.evidence ?? {
    source: "guestabi-profile",
    from: evidenceFrom(
      opts.source,
      `guestabi ${p.tool.version} host profile (backend ${p.backend}, probed ${p.probedAt})`,
    ),
    notMeasured: profileGaps(p),
  };
  const cpuLabel = opts.cpuLabel ?? p.host.cpuLabel;
  return { ...p, host: { ...p.host, cpuLabel }, evidence };
}

/** Whether `text` is a JSON object with a "format" key (a guestabi document); false for anything else. */
function isGuestabiDocument(text: string): boolean {
  if (text.length > FIRECRACKER_LIMITS.fileBytes) return false; // refused by the size check that follows
  try {
    const doc: unknown = JSON.parse(text);
    return typeof doc === "object" && doc !== null && !Array.isArray(doc) && Object.hasOwn(doc, "format");
  } catch {
    return false;
  }
}

/**
 * The host profile `text` (the file opts.source) describes. Throws a ProfileError (one line) when
 * it is neither a guestabi host profile nor a Firecracker dump.
 */
export function importHostProfile(text: string, opts: ImportOptions): HostProfile {
  if (isGuestabiDocument(text)) return importGuestabiProfile(text, opts);
  return profileFromFirecracker(readFirecrackerEvidence(text, opts.source), opts);
}
