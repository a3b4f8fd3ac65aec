/** check / baseline / certify: what they do (abi-commands.ts registers them). */
import { baseline as templateBaseline } from "../check/baseline.js";
import { certify as certifyOnHosts } from "../check/certify.js";
import type { CheckReport, Evidence, Verdict } from "../check/check.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { GUESTABI_POLICY } from "../check/restore-policy.js";
import { checkAbi } from "../check/check.js";
import { featureName } from "../check/config-view.js";
import type { HostProfile } from "../formats/profile.js";
import { formatTemplateJson, templateToJson } from "../formats/template.js";
import type { MachinePins } from "../formats/machine-pins.js";
import {
  checkOutput,
  readEach,
  readProfileFile,
  readCheckSubject,
  readSubjectFile,
  refuseTwoStdouts,
  writeOutput,
} from "./input-files.js";
import { formatTable, toJson } from "./output.js";
import { STDOUT_PATH, UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";
import { UNLABELLED_CPU, inventoryModel } from "./inventory-source.js";
import type { DbOption } from "./inventory-source.js";
import { vmmPolicy } from "../vmm/policies.js";
import type { CheckFailOn } from "./abi-commands.js";

const oneLine = (s: string, max = 200) => (s.length > max ? s.slice(0, max - 1) + "…" : s);

/** A verdict's evidence as the text output shows it: blank where measured (most verdicts). */
const evidenceCell = (e: Evidence): string => (e === "measured" ? "" : e);

/**
 * Verdicts as a table: LEVEL, REGISTER, FIELD, REASON (HOST first for several hosts), and EVIDENCE
 * after LEVEL when some verdict is not measured on its host.
 */
function verdictTable(
  verdicts: readonly Verdict[],
  opts: { withHost?: boolean; shorten?: boolean } = {},
): string {
  const evidence = verdicts.some((v) => v.evidence !== "measured");
  const cell = opts.shorten ? (c: string) => oneLine(c) : (c: string) => c;
  return formatTable(
    [
      ...(opts.withHost ? ["HOST"] : []),
      "LEVEL",
      ...(evidence ? ["EVIDENCE"] : []),
      "REGISTER",
      "FIELD",
      "REASON",
    ],
    verdicts.map((v) =>
      [
        ...(opts.withHost ? [v.host ?? ""] : []),
        v.level,
        ...(evidence ? [evidenceCell(v.evidence)] : []),
        v.register,
        v.field ?? "",
        v.reason,
      ].map(cell),
    ),
  );
}

/** "; evidence: 3 inferred, 1 unknown" when some verdicts are not measured, else "". */
function evidenceCounts(counts: Record<Evidence, number> | undefined): string {
  const parts = (["inferred", "unknown"] as const).filter((e) => (counts?.[e] ?? 0) > 0);
  return parts.length ? `; not measured: ${parts.map((e) => `${counts?.[e]} ${e}`).join(", ")}` : "";
}

/** What the VMM's restore does, when it is a real VMM's (guestabi's own says it in the verdicts). */
function restoreLine(report: CheckReport): string {
  const r = report.restore;
  if (r.vmm === GUESTABI_POLICY.id) return "";
  if (!r.loads) return `${r.label} refuses the restore at ${r.register}: ${r.error}\n`;
  return report.compatible
    ? `${r.label} loads it\n`
    : `${r.label} loads it, but the guest sees what the incompatible verdicts below say (--fail-on guest-change exits 1 on them)\n`;
}

function checkText(r: CheckReport, all: boolean): string {
  const s = r.summary ?? { ok: 0, tolerated: 0, incompatible: 0 };
  const head =
    `${r.subject ?? "subject"} on ${r.host}: ${r.compatible ? "compatible" : "INCOMPATIBLE"} ` +
    `(${s.incompatible} incompatible, ${s.tolerated} tolerated, ${s.ok} ok${evidenceCounts(r.byEvidence)})\n`;
  const shown = all ? r.verdicts : r.verdicts.filter((v) => v.level !== "ok");
  const table = shown.length ? verdictTable(shown) : "";
  const tail = !all && s.ok > 0 ? `${s.ok} verdicts ok (--all lists them)\n` : "";
  return head + restoreLine(r) + table + tail;
}

function baselineText(
  b: ReturnType<typeof templateBaseline>,
  files: string[],
  out: string | undefined,
): string {
  const t = b.template;
  let text =
    `baseline of ${files.length} host${files.length === 1 ? "" : "s"}: features ${t.features.length ? t.features.map(featureName).join(", ") : "none"}, ` +
    `${t.idRegs.size} ID registers, ${t.firmware.size} firmware registers, ${t.regs.size} registers` +
    (out ? `; written to ${out}` : "; not written (--out FILE)") +
    "\n";
  if (t.machine) text += `machine: ${machineText(t.machine)}\n`;
  for (const g of b.giveUps) {
    text += `\n${g.host} gives up ${g.verdicts.length === 0 ? "nothing" : `${g.verdicts.length}:`}\n`;
    if (g.verdicts.length) text += verdictTable(g.verdicts, { shorten: true });
  }
  text += b.unhonourable.length
    ? `\nno single value satisfies (${b.unhonourable.length}):\n` +
      verdictTable(b.unhonourable, { withHost: true })
    : "\nevery host can honour the template\n";
  return text;
}

/** A template's machine pins in one line: "GICD_IIDR revision 2, ITS table ABI 0, PMU counters 6". */
function machineText(m: MachinePins): string {
  const parts = [
    m.gicdIidrRevision !== undefined ? `GICD_IIDR revision ${m.gicdIidrRevision}` : "",
    m.itsAbi !== undefined ? `ITS table ABI ${m.itsAbi}` : "",
    m.pmuCounters !== undefined ? `PMU counters ${m.pmuCounters}` : "",
    m.counterOffset !== undefined ? `counter offset 0x${m.counterOffset.toString(16)}` : "",
    m.smcccFilter !== undefined ? `${m.smcccFilter.length} SMCCC filter ranges` : "",
  ];
  return parts.filter((x) => x).join(", ") || "none";
}

/**
 * certify's report; `hostsOf` is how many hosts an entry stands for (one a profile file, a group's
 * hosts with one profile for an inventory).
 */
function certifyText(
  r: ReturnType<typeof certifyOnHosts>,
  file: string,
  hostsOf: (name: string) => number,
): string {
  const count = (names: readonly string[]) => names.reduce((n, h) => n + hostsOf(h), 0);
  const all = count([...r.runnable, ...r.blocked.map((b) => b.host)]);
  let text = `${file}: runnable on ${count(r.runnable)} of ${all} hosts\n`;
  for (const h of r.runnable) text += `  ok       ${h}\n`;
  for (const b of r.blocked) text += `  blocked  ${b.host} (${b.verdicts.length} incompatible)\n`;
  const evidence = r.groups.some((g) => g.evidence.some((e) => e !== "measured"));
  if (r.groups.length)
    text +=
      "\n" +
      formatTable(
        ["REGISTER", "FIELD", "HOSTS", ...(evidence ? ["EVIDENCE"] : []), "REASON"],
        r.groups.map((g) => [
          g.register,
          g.field ?? "",
          String(count(g.hosts)),
          ...(evidence ? [g.evidence.some((e) => e !== "measured") ? g.evidence.join("/") : ""] : []),
          oneLine(g.reasons[0]!),
        ]),
      );
  return text;
}

/**
 * The hosts certify checks: the profile files of --hosts (each a host), or each group's distinct
 * profiles in an inventory, named "GROUP: N hosts, RELEASE CPU", each checked once.
 */
async function certifyHosts(o: {
  hosts?: string[];
  db?: DbOption;
  group?: string[];
}): Promise<{ profiles: HostProfile[]; names: string[]; hostsOf: (name: string) => number }> {
  if ((o.hosts === undefined) === (o.db === undefined))
    throw new UsageError("give the hosts: --hosts PROFILE... or --db [INVENTORY]");
  if (o.group && o.db === undefined) throw new UsageError("--group needs --db");
  if (o.hosts)
    return { profiles: await readEach(o.hosts, readProfileFile), names: o.hosts, hostsOf: () => 1 };
  const { model } = await inventoryModel(o.db!, o.group);
  const weight = new Map<string, number>();
  const profiles: HostProfile[] = [];
  for (const c of model.hostCounts) {
    const p = model.profiles.get(c.profile)!;
    const name = `${c.group}: ${c.hosts} host${c.hosts === 1 ? "" : "s"}, ${p.host.release} ${p.host.cpuLabel ?? UNLABELLED_CPU} (profile ${c.profile.slice(0, 12)})`;
    weight.set(name, c.hosts);
    profiles.push(p);
  }
  return { profiles, names: [...weight.keys()], hostsOf: (name) => weight.get(name) ?? 0 };
}

export async function check(
  file: string,
  o: {
    host: string;
    sourceProfile?: string;
    all?: boolean;
    json?: boolean;
    vmm?: RestorePolicy;
    failOn: CheckFailOn;
  },
): Promise<CommandResult> {
  const { subject, artifact } = await readCheckSubject(file);
  const host = await readProfileFile(o.host);
  const source = o.sourceProfile ? await readProfileFile(o.sourceProfile) : undefined;
  const report = checkAbi(subject, host, {
    ...(source ? { sourceProfile: source } : {}),
    hostName: o.host,
    subjectLabel: file,
    vmm: o.vmm ?? (artifact ? vmmPolicy(artifact.vmm) : GUESTABI_POLICY),
  });
  return {
    stdout: o.json ? toJson(report) : checkText(report, Boolean(o.all)),
    // guestabi's own restore refuses every incompatibility, so for it both are the same.
    ok: report.restore.loads && (o.failOn === "refused" || report.compatible),
    notes: artifact && !o.json ? artifact.notes.map((n) => `check: ${artifact.format}: ${n}`) : [],
  };
}

export async function baseline(
  files: string[],
  o: { out?: string; name?: string; json?: boolean },
): Promise<CommandResult> {
  refuseTwoStdouts(o.out, o.json);
  if (o.out !== undefined) await checkOutput(o.out, files);
  const profiles = await readEach(files, readProfileFile);
  const b = templateBaseline(profiles, { names: files, ...(o.name !== undefined ? { name: o.name } : {}) });
  const ok = b.unhonourable.length === 0 && (b.reports ?? []).every((r) => r.compatible);
  if (o.out === STDOUT_PATH) {
    const head = baselineText(b, files, "stdout").split("\n")[0]!;
    return { ...(await writeOutput(o.out, formatTemplateJson(b.template))), notes: [head], ok };
  }
  if (o.out !== undefined) await writeOutput(o.out, formatTemplateJson(b.template), files);
  const json = {
    template: templateToJson(b.template),
    compatible: ok,
    giveUps: b.giveUps,
    unhonourable: b.unhonourable,
  };
  return { stdout: o.json ? toJson(json) : baselineText(b, files, o.out), ok };
}

export async function certify(
  file: string,
  o: {
    hosts?: string[];
    db?: DbOption;
    group?: string[];
    sourceProfile?: string;
    json?: boolean;
    vmm?: RestorePolicy;
  },
): Promise<CommandResult> {
  const subject = await readSubjectFile(file);
  const { profiles, names, hostsOf } = await certifyHosts(o);
  const source = o.sourceProfile ? await readProfileFile(o.sourceProfile) : undefined;
  const r = certifyOnHosts(subject, profiles, {
    names,
    vmm: o.vmm ?? GUESTABI_POLICY,
    ...(source ? { sourceProfile: source } : {}),
  });
  const json = { subject: file, runnable: r.runnable, blocked: r.blocked, groups: r.groups };
  return {
    stdout: o.json ? toJson(json) : certifyText(r, file, hostsOf),
    ok: r.blocked.length === 0,
  };
}
