/**
 * Which saved registers to drop from a Firecracker snapshot before restoring it on a host whose KVM does
 * not list them, with Firecracker's snapshot-editor (src/snapshot-editor/src/edit_vmstate.rs, v1.16.1):
 *
 *   snapshot-editor edit-vmstate remove-regs --vmstate-path VMSTATE --output-path OUTPUT ID...
 *
 * (clap: the subcommands edit-vmstate and remove-regs, the two paths as long options, the ids as
 * positional u64 values in hex or decimal, clap_num maybe_hex; it removes each id from every vCPU's
 * saved registers). Firecracker restores every saved register and stops at the first ENOENT
 * (firecracker-policy.ts), so a register the destination lacks must go; dropping it is safe only where
 * the VM has the value a VM that never knew the register has: exactly what `guestabi check` tolerates for
 * a register the destination does not list (check/presence.ts missingLevel), whose verdicts decide here.
 */
import type { HostProfile } from "../formats/profile.js";
import type { Snapshot } from "../formats/snapshot.js";
import { checkAbi } from "../check/check.js";
import type { Verdict } from "../check/check.js";

export interface RemovableRegister {
  register: string;
  /** The register id, 0x + 16 hex digits. */
  id: string;
  /** guestabi's reason (its check verdict). */
  reason: string;
  /** vCPUs the verdict is about, where the snapshot has several. */
  vcpus?: number[];
}

export interface RemoveRegsPlan {
  /** Registers the destination does not list whose removal the guest cannot tell. */
  remove: RemovableRegister[];
  /** Registers the destination does not list that the guest would miss: no removal makes the restore right. */
  unsafe: RemovableRegister[];
  /** Incompatible verdicts about anything else (values, features): `guestabi check` lists them. */
  otherIncompatible: number;
  /** The destination's name in the report. */
  host: string;
}

export interface RemoveRegsOptions {
  /** The source host's profile: its reset values decide what a VM that never knew a register has. */
  sourceProfile?: HostProfile;
  hostName?: string;
  subjectLabel?: string;
}

/** presence.ts's reasons open with "the destination does not list it (...); ": said once here. */
const LACKS = /^the destination does not list it \([^)]*\); /;

const entry = (v: Verdict): RemovableRegister => ({
  register: v.register,
  id: v.id,
  reason: v.reason.replace(LACKS, ""),
  ...(v.vcpus ? { vcpus: v.vcpus } : {}),
});

/** The registers of `snapshot` that `host` does not list, split into safe to remove and not. */
export function firecrackerRemoveRegs(
  snapshot: Snapshot,
  host: HostProfile,
  opts: RemoveRegsOptions = {},
): RemoveRegsPlan {
  const report = checkAbi(snapshot, host, opts);
  const missing = report.verdicts.filter((v) => v.kind === "missing");
  // A register unsafe on any vCPU is unsafe: remove-regs drops it from every vCPU.
  const unsafeIds = new Set(missing.filter((v) => v.level === "incompatible").map((v) => v.id));
  const byId = (list: Verdict[]) => [...new Map(list.map((v) => [v.id, v])).values()].map(entry);
  return {
    remove: byId(missing.filter((v) => !unsafeIds.has(v.id))),
    unsafe: byId(missing.filter((v) => v.level === "incompatible")),
    otherIncompatible: report.verdicts.filter((v) => v.level === "incompatible" && v.kind !== "missing")
      .length,
    host: report.host,
  };
}

/** A word as a POSIX shell reads it: as is when plain, else single-quoted. */
const shellWord = (s: string): string =>
  /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;

/** The snapshot-editor command that drops `ids` (edit_vmstate.rs RemoveRegs). */
export function removeRegsCommand(ids: readonly string[], vmstatePath: string, outputPath: string): string {
  return [
    "snapshot-editor edit-vmstate remove-regs",
    `--vmstate-path ${shellWord(vmstatePath)}`,
    `--output-path ${shellWord(outputPath)}`,
    ...ids,
  ].join(" ");
}

/** The plan as text: the command (when there is something to remove), then the registers that cannot go. */
export function formatRemoveRegs(plan: RemoveRegsPlan, vmstatePath: string, outputPath: string): string {
  let text = "";
  if (plan.remove.length) {
    text += `${plan.remove.length} register${plan.remove.length === 1 ? "" : "s"} ${plan.host} does not list, safe to remove:\n`;
    for (const r of plan.remove) text += `  ${r.id}  ${r.register}: ${r.reason}\n`;
    text += `\n${removeRegsCommand(
      plan.remove.map((r) => r.id),
      vmstatePath,
      outputPath,
    )}\n`;
  } else if (!plan.unsafe.length)
    text += `nothing to remove: ${plan.host} lists every register the snapshot carries\n`;
  if (plan.unsafe.length) {
    text += `\n${plan.unsafe.length} register${plan.unsafe.length === 1 ? "" : "s"} ${plan.host} does not list that the guest would miss (not removed):\n`;
    for (const r of plan.unsafe) text += `  ${r.id}  ${r.register}: ${r.reason}\n`;
  }
  if (plan.otherIncompatible)
    text += `\n${plan.otherIncompatible} other incompatible verdict${plan.otherIncompatible === 1 ? "" : "s"} (guestabi check lists them)\n`;
  return text.replace(/^\n/, "");
}
