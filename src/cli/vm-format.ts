/** Text and JSON of what pin, restore and migrate report (vm-commands.ts). */
import { describeId, formatId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { vcpuFeatureNames } from "../kvm/index.js";
import type { GuestAbiFingerprint } from "../kvm/sim/fingerprint.js";
import type { Verdict } from "../check/check.js";
import { unpinnableCause } from "../fleet/sim-ops.js";
import type { Arrival, SimMigration } from "../fleet/sim-ops.js";
import type { AbiTemplate } from "../formats/template.js";
import type { VmOpError } from "../vm/managed-vm.js";
import type { PinReport } from "../vm/pin.js";
import type { RestoreReport } from "../vm/vm.js";
import { simText } from "./options.js";
import type { SimSpec } from "./options.js";
import { formatTable, toJson } from "./output.js";

const name = (id: RegId) => describeId(id).name;
const hex = (v: bigint | undefined) => (v === undefined ? "-" : "0x" + v.toString(16));
const idName = (id: RegId) => ({ id: formatId(id), name: name(id) });
const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
const vcpusText = (n: number) => `${n} vCPU${n > 1 ? "s" : ""}`;

function readBackCounts(r: PinReport): { ok: number; "time-varying": number; adjusted: number } {
  const counts = { ok: 0, "time-varying": 0, adjusted: 0 };
  for (const rb of r.readBacks) if (rb.status !== "mismatch") counts[rb.status]++;
  return counts;
}

export function pinJson(spec: SimSpec, template: AbiTemplate, vcpus: number, r: PinReport): string {
  return toJson({
    sim: simText(spec),
    template: template.name ?? null,
    vcpus,
    steps: r.steps,
    readBacks: readBackCounts(r),
    adjusted: r.readBacks
      .filter((x) => x.status === "adjusted")
      .map((x) => ({ vcpu: x.vcpu, ...idName(x.id), wrote: x.wrote, read: x.read })),
    changed: r.changed.map((c) => ({ ...idName(c.id), hostDefault: c.before, pinned: c.after })),
    skipped: r.skipped.map(idName),
    listedNotInTemplate: r.listedNotInTemplate.map(idName),
    inTemplateNotListed: r.inTemplateNotListed.map(idName),
  });
}

export function pinText(spec: SimSpec, template: AbiTemplate, vcpus: number, r: PinReport): string {
  const lines: string[] = [];
  lines.push(
    `pinned a new VM on sim ${simText(spec)} to template ${template.name ?? "(unnamed)"}: ${vcpusText(vcpus)}`,
    "",
  );
  lines.push(
    formatTable(
      ["STEP", "WHAT"],
      r.steps.map((s) => [s.op, s.detail]),
    ).trimEnd(),
  );
  const c = readBackCounts(r);
  lines.push(
    "",
    `READ-BACK: ${r.readBacks.length} values on ${vcpusText(vcpus)}: ${c.ok} equal, ${c.adjusted} adjusted by KVM, ${c["time-varying"]} time-varying`,
  );
  for (const a of r.readBacks.filter((x) => x.status === "adjusted"))
    lines.push(
      `  vCPU ${a.vcpu} ${name(a.id)}: wrote ${hex(a.wrote as bigint)}, reads ${hex(a.read as bigint)} (kvm_arm_set_fw_reg checks the level, stores nothing)`,
    );
  lines.push("", "CHANGED FROM THIS HOST'S DEFAULTS");
  if (r.changed.length === 0) lines.push("  nothing: the template is this host's default ABI");
  else
    lines.push(
      formatTable(
        ["REGISTER", "HOST DEFAULT", "PINNED"],
        r.changed.map((x) => [name(x.id), hex(x.before), hex(x.after)]),
      )
        .trimEnd()
        .replace(/^/gm, "  "),
    );
  if (r.skipped.length)
    lines.push("", `NOT ON THIS HOST (skipped; checkAbi tolerates it): ${r.skipped.map(name).join(", ")}`);
  lines.push(
    "",
    `NOT IN THE TEMPLATE (this host lists them; a snapshot of the VM carries them): ${r.listedNotInTemplate.map(name).join(", ") || "none"}`,
  );
  return lines.join("\n") + "\n";
}

function restoreJson(r: RestoreReport): unknown {
  return {
    written: r.written,
    unchanged: r.unchanged,
    readBacks: r.readBacks,
    adjusted: r.adjusted.map((x) => ({ vcpu: x.vcpu, ...idName(x.id), wrote: x.wrote, read: x.read })),
    skipped: r.skipped.map((x) => ({ vcpu: x.vcpu, ...idName(x.id), reason: x.reason })),
    unsaved: r.unsaved.map(idName),
    steps: r.steps,
  };
}

function restoreLines(r: RestoreReport): string[] {
  const skippedNames = [...new Set(r.skipped.map((x) => name(x.id)))];
  return [
    `  restored     ${r.written} registers (${r.unchanged} ABI registers already held the saved value), every one read back: ${r.readBacks.ok} equal, ${r.readBacks["time-varying"]} time-varying, ${r.readBacks.adjusted} adjusted`,
    ...r.adjusted.map(
      (a) =>
        `    adjusted   vCPU ${a.vcpu} ${name(a.id)}: wrote ${hex(a.wrote as bigint)}, reads ${hex(a.read as bigint)}`,
    ),
    `  skipped      ${skippedNames.length ? `${skippedNames.join(", ")} (not on this host; checkAbi tolerates them)` : "nothing"}`,
    `  reset        ${r.unsaved.length ? `${r.unsaved.map(name).join(", ")} (this host has them, the snapshot does not: KVM's reset values)` : "nothing"}`,
  ];
}

function verdictRows(vs: readonly Verdict[], max = 12): string[] {
  const rows = vs.slice(0, max).map((v) => [v.register, v.field ?? "", v.reason]);
  const out = formatTable(["REGISTER", "FIELD", "REASON"], rows)
    .trimEnd()
    .split("\n")
    .map((l) => "    " + l);
  if (vs.length > max) out.push(`    ... and ${vs.length - max} more`);
  return out;
}

function fingerprintLines(before: GuestAbiFingerprint, after: NonNullable<SimMigration["after"]>): string[] {
  const diff = after.diff;
  const change = ([a, b]: [string, string]) => {
    const cause = unpinnableCause(a, b);
    return `    ${a}  ->  ${b.replace(/^[^:]*: /, "")}${cause ? `  (no register pins it: ${cause})` : ""}`;
  };
  const lines = [
    `  fingerprint  source ${before.sha256.slice(0, 16)}, destination ${after.fingerprint.sha256.slice(0, 16)} (over ${before.conduit.toUpperCase()}, the VMM's conduit): ${diff.length ? `the guest sees ${plural(diff.length, "difference", "differences")}` : "identical"}`,
    ...diff.slice(0, 10).map(change),
  ];
  if (diff.length > 10) lines.push(`    ... and ${diff.length - 10} more`);
  const other = after.otherConduitDiff;
  if (other.length) {
    const o = before.otherConduit.conduit.toUpperCase();
    lines.push(
      `  ${o.toLowerCase()}-only     ${plural(other.length, "difference", "differences")} through ${o}, not counted: a guest whose firmware tables say ${before.conduit.toUpperCase()} never issues an ${o}`,
      ...other.slice(0, 10).map(change),
    );
  }
  return lines;
}

/** Where a migration's VM came from and what was saved, as the outcome shows it. */
interface Source {
  source: string;
  saved: string;
}

/**
 * The JSON of a restore or migration, arrived or not: one shape for both ends. `head` is the command's
 * own fields, first `restored` or `migrated` (true|false), then the hosts; `outcome` is "restored",
 * "migrated", "guest-view-changes" (migrated, but the guest sees a difference), "refused" (by the
 * check) or "failed" (KVM).
 */
type JsonHead = { restored: boolean; sim: string } | { migrated: boolean; from: string; to: string };

/** A restore or migration that did not arrive: REFUSED (by the check) or FAILED (KVM), with the reasons. */
function notArrived(json: false | JsonHead, title: string, e: VmOpError, src?: Source): string {
  const outcome = e.kind === "refused" ? "REFUSED" : "FAILED";
  if (json)
    return toJson({
      ...json,
      outcome: outcome.toLowerCase(),
      error: e.message,
      ...(e.register !== undefined ? { register: formatId(e.register), registerName: name(e.register) } : {}),
      ...(e.errno ? { errno: e.errno } : {}),
      verdicts: e.verdicts ?? [],
      destinationVmDestroyed: e.vmDestroyed,
      ...(e.cleanupError !== undefined ? { cleanupError: e.cleanupError } : {}),
      ...(src ?? {}),
    });
  const lines = [`${title}: ${outcome}`];
  if (src) lines.push(`  source       a VM ${src.source}`, `  saved        ${src.saved}`);
  if (e.kind === "refused") {
    const host = e.message.replace(/^restore: /, "").replace(/ is incompatible .*$/, "");
    lines.push(
      `  check        ${host}: ${e.verdicts?.length ?? 0} incompatible verdicts, nothing was created`,
    );
    lines.push(...verdictRows(e.verdicts ?? []));
  } else {
    lines.push(`  failed       ${e.message.replace(/^restore: /, "")}`);
  }
  return lines.join("\n") + "\n";
}

export function restoreOutcome(json: boolean, file: string, spec: SimSpec, a: Arrival): string {
  const title = `restore ${file} on sim ${simText(spec)}`;
  const head = { restored: a.arrived, sim: simText(spec) };
  if (!a.arrived) return notArrived(json && head, title, a.error);
  if (json)
    return toJson({
      ...head,
      outcome: "restored",
      check: a.report.check,
      restore: restoreJson(a.report),
    });
  return [`${title}: RESTORED`, ...restoreLines(a.report)].join("\n") + "\n";
}

/**
 * Whether a migration is the success the command reports with exit code 0: the VM arrived and its
 * guest sees nothing change over the VMM's conduit (else MIGRATED WITH GUEST-VIEW CHANGES, exit 1,
 * as `impact` calls such a VM "guest-view-changes").
 */
export const migrationUnseen = (m: SimMigration): boolean =>
  m.arrival.arrived && m.after !== undefined && m.after.diff.length === 0;

/** `templateLabel`: the template's name, or its file when it has none (undefined: host defaults). */
export function migrateOutcome(
  json: boolean,
  from: SimSpec,
  to: SimSpec,
  templateLabel: string | undefined,
  m: SimMigration,
): string {
  const title = `migrate ${simText(from)} -> ${simText(to)}`;
  const src: Source = {
    source:
      templateLabel !== undefined
        ? `pinned to ${templateLabel} (${plural(m.pinned?.changed ?? 0, "register differs", "registers differ")} from the host's defaults)`
        : `with the host's defaults (features ${vcpuFeatureNames(m.features).join("+")})`,
    saved: `${m.saved.vcpus} vCPU(s), ${m.saved.registers} registers`,
  };
  const a = m.arrival;
  const head = { migrated: a.arrived, from: simText(from), to: simText(to) };
  if (!a.arrived) return notArrived(json && head, title, a.error, src);
  const after = m.after!;
  const changed = after.diff.length > 0;
  if (json)
    return toJson({
      ...head,
      outcome: changed ? "guest-view-changes" : "migrated",
      ...src,
      check: a.report.check,
      restore: restoreJson(a.report),
      fingerprint: {
        conduit: m.before.conduit,
        source: m.before.sha256,
        destination: after.fingerprint.sha256,
        identical: !changed,
        differences: after.diff,
        otherConduit: { conduit: m.before.otherConduit.conduit, differences: after.otherConduitDiff },
      },
    });
  const tolerated = a.report.check.verdicts.filter((v) => v.level === "tolerated").length;
  return (
    [
      `${title}: ${changed ? "MIGRATED WITH GUEST-VIEW CHANGES" : "MIGRATED"}`,
      `  source       a VM ${src.source}`,
      `  saved        ${src.saved}`,
      `  check        ${a.report.check.host}: compatible (${tolerated} tolerated difference${tolerated === 1 ? "" : "s"})`,
      ...restoreLines(a.report),
      ...fingerprintLines(m.before, after),
    ].join("\n") + "\n"
  );
}
