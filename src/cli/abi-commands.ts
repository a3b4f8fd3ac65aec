/**
 * check / baseline / certify / export-firecracker: guest ABI compatibility on the command line.
 *
 * Exit codes: 0 compatible (check), every host honours the template (baseline), every host can run it
 * (certify), written (export-firecracker); 1 incompatible / some host cannot; 2 bad input (a missing
 * or corrupt file, a profile of a kernel generation guestabi does not model): one line on stderr,
 * nothing on stdout, nothing written. Files are written atomically (temp file, fsync, rename).
 */
import type { Command } from "commander";
import fs from "node:fs";
import { writeFileAtomic } from "../formats/atomic-write.js";
import { baseline } from "../check/baseline.js";
import { certify } from "../check/certify.js";
import type { CheckReport, Verdict } from "../check/check.js";
import { checkCompiled } from "../check/check.js";
import { formatFirecracker, toFirecracker } from "../vmm/firecracker.js";
import type { HostProfile } from "../formats/profile.js";
import { PROFILE_LIMITS, ProfileError, readProfile, requireGeneration } from "../formats/profile.js";
import { featureName } from "../check/config-view.js";
import { compileHost } from "../check/host.js";
import { compileSubject } from "../check/requirements.js";
import type { Snapshot } from "../formats/snapshot.js";
import { SNAPSHOT_JSON_FORMAT, SnapshotFormatError, snapshotFromJson } from "../formats/snapshot.js";
import { decodeSnapshotBinary, looksLikeSnapshotBinary } from "../formats/snapshot-binary.js";
import type { AbiTemplate } from "../formats/template.js";
import {
  TEMPLATE_JSON_FORMAT,
  TemplateFormatError,
  formatTemplateJson,
  parseTemplateJson,
  templateFromJson,
  templateToJson,
} from "../formats/template.js";
import { UsageError, formatTable, toJson } from "./output.js";

const MAX_SUBJECT_BYTES = 1 << 30;

const write = (s: string): void => {
  process.stdout.write(s);
};

function readBytes(file: string, max: number, what: string): Buffer {
  try {
    const size = fs.statSync(file).size;
    if (size > max) throw new UsageError(`${file}: larger than ${max} bytes, not a ${what}`);
    return fs.readFileSync(file);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A host profile of a modelled kernel generation, or UsageError (one line). */
export function loadProfile(file: string): HostProfile {
  const text = readBytes(file, PROFILE_LIMITS.fileBytes, "host profile").toString("utf8");
  try {
    const p = readProfile(text, file);
    requireGeneration(p, file);
    return p;
  } catch (e) {
    if (e instanceof ProfileError) throw new UsageError(e.message);
    throw e;
  }
}

/** A snapshot (binary or JSON) or an ABI template (JSON), told apart by magic / "format". */
export function loadSubject(file: string): Snapshot | AbiTemplate {
  const bytes = readBytes(file, MAX_SUBJECT_BYTES, "snapshot or ABI template");
  const u8 = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  try {
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
  } catch (e) {
    if (e instanceof SnapshotFormatError || e instanceof TemplateFormatError)
      throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

function loadTemplate(file: string): AbiTemplate {
  const text = readBytes(file, MAX_SUBJECT_BYTES, "ABI template").toString("utf8");
  try {
    return parseTemplateJson(text);
  } catch (e) {
    if (e instanceof TemplateFormatError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

async function writeOut(file: string, text: string): Promise<void> {
  try {
    await writeFileAtomic(file, text);
  } catch (e) {
    throw new UsageError(
      `cannot write ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

const oneLine = (s: string, max = 200) => (s.length > max ? s.slice(0, max - 1) + "…" : s);

function verdictRows(verdicts: readonly Verdict[], withHost = false): string[][] {
  return verdicts.map((v) => [
    ...(withHost ? [v.host ?? ""] : []),
    v.level,
    v.register,
    v.field ?? "",
    v.reason,
  ]);
}

function checkText(r: CheckReport, all: boolean): string {
  const s = r.summary ?? { ok: 0, tolerated: 0, incompatible: 0 };
  const head =
    `${r.subject ?? "subject"} on ${r.host}: ${r.compatible ? "compatible" : "INCOMPATIBLE"} ` +
    `(${s.incompatible} incompatible, ${s.tolerated} tolerated, ${s.ok} ok)\n`;
  const shown = all ? r.verdicts : r.verdicts.filter((v) => v.level !== "ok");
  const table = shown.length ? formatTable(["LEVEL", "REGISTER", "FIELD", "REASON"], verdictRows(shown)) : "";
  const tail = !all && s.ok > 0 ? `${s.ok} verdicts ok (--all lists them)\n` : "";
  return head + table + tail;
}

export function registerAbiCommands(program: Command): void {
  program
    .command("check")
    .description("can a snapshot or ABI template run on a host? a verdict per register and field")
    .argument("<subject>", "a snapshot (binary or JSON) or an ABI template")
    .requiredOption("--host <profile>", "the destination's host profile")
    .option("--source-profile <profile>", "the source host's profile (its reset values and guest view)")
    .option("--all", "list the ok verdicts too")
    .option("--json", "print the report as JSON")
    .action((file: string, o: { host: string; sourceProfile?: string; all?: boolean; json?: boolean }) => {
      const subject = loadSubject(file);
      const host = loadProfile(o.host);
      const source = o.sourceProfile ? loadProfile(o.sourceProfile) : undefined;
      const req = compileSubject(subject, { ...(source ? { sourceProfile: source } : {}), label: file });
      const report = checkCompiled(req, compileHost(host, o.host));
      write(o.json ? toJson(report) : checkText(report, Boolean(o.all)));
      if (!report.compatible) process.exitCode = 1;
    });

  program
    .command("baseline")
    .description("the richest ABI template every listed host can honour, and what each host gives up")
    .argument("<profiles...>", "host profiles")
    .option("--out <template>", "write the template to FILE (atomically)")
    .option("--name <name>", "the template's name")
    .option("--json", "print template, give-ups and conflicts as JSON")
    .action(async (files: string[], o: { out?: string; name?: string; json?: boolean }) => {
      const profiles = files.map(loadProfile);
      const b = baseline(profiles, { names: files, ...(o.name !== undefined ? { name: o.name } : {}) });
      const templateText = formatTemplateJson(b.template);
      if (o.out) await writeOut(o.out, templateText);
      if (o.json)
        write(
          toJson({
            template: templateToJson(b.template),
            compatible: b.unhonourable.length === 0 && (b.reports ?? []).every((r) => r.compatible),
            giveUps: b.giveUps,
            unhonourable: b.unhonourable,
          }),
        );
      else {
        const t = b.template;
        const lines = [
          `baseline of ${files.length} host${files.length === 1 ? "" : "s"}: features ${t.features.length ? t.features.map(featureName).join(", ") : "none"}, ` +
            `${t.idRegs.size} ID registers, ${t.firmware.size} firmware registers, ${t.regs.size} registers` +
            (o.out ? `; written to ${o.out}` : "; not written (--out FILE)"),
        ];
        let text = lines.join("\n") + "\n";
        for (const g of b.giveUps) {
          text += `\n${g.host} gives up ${g.verdicts.length === 0 ? "nothing" : `${g.verdicts.length}:`}\n`;
          if (g.verdicts.length)
            text += formatTable(
              ["LEVEL", "REGISTER", "FIELD", "REASON"],
              verdictRows(g.verdicts).map((r) => r.map((c) => oneLine(c))),
            );
        }
        text += b.unhonourable.length
          ? `\nno single value satisfies (${b.unhonourable.length}):\n` +
            formatTable(["HOST", "LEVEL", "REGISTER", "FIELD", "REASON"], verdictRows(b.unhonourable, true))
          : "\nevery host can honour the template\n";
        write(text);
      }
      if (b.unhonourable.length > 0 || (b.reports ?? []).some((r) => !r.compatible)) process.exitCode = 1;
    });

  program
    .command("certify")
    .description("which hosts can run a snapshot or ABI template, and why not (grouped reasons)")
    .argument("<subject>", "a snapshot (binary or JSON) or an ABI template")
    .requiredOption("--hosts <profiles...>", "host profiles")
    .option("--source-profile <profile>", "the source host's profile (its reset values and guest view)")
    .option("--json", "print the result as JSON")
    .action((file: string, o: { hosts: string[]; sourceProfile?: string; json?: boolean }) => {
      const subject = loadSubject(file);
      const profiles = o.hosts.map(loadProfile);
      const source = o.sourceProfile ? loadProfile(o.sourceProfile) : undefined;
      const r = certify(subject, profiles, { names: o.hosts, ...(source ? { sourceProfile: source } : {}) });
      if (o.json) {
        write(toJson({ subject: file, runnable: r.runnable, blocked: r.blocked, groups: r.groups }));
      } else {
        let text = `${file}: runnable on ${r.runnable.length} of ${profiles.length} hosts\n`;
        for (const h of r.runnable) text += `  ok       ${h}\n`;
        for (const b of r.blocked) text += `  blocked  ${b.host} (${b.verdicts.length} incompatible)\n`;
        if (r.groups.length)
          text +=
            "\n" +
            formatTable(
              ["REGISTER", "FIELD", "HOSTS", "REASON"],
              r.groups.map((g) => [
                g.register,
                g.field ?? "",
                String(g.hosts.length),
                oneLine(g.reasons[0]!),
              ]),
            );
        write(text);
      }
      if (r.blocked.length > 0) process.exitCode = 1;
    });

  program
    .command("export-firecracker")
    .description("an ABI template as a Firecracker aarch64 custom CPU template (JSON)")
    .argument("<template>", "an ABI template")
    .option("--out <file>", "write to FILE (atomically) instead of stdout")
    .option("--quiet", "no notes on stderr about what Firecracker cannot express")
    .action(async (file: string, o: { out?: string; quiet?: boolean }) => {
      const { template, notes } = toFirecracker(loadTemplate(file));
      const text = formatFirecracker(template);
      if (o.out) await writeOut(o.out, text);
      else write(text);
      if (!o.quiet) for (const n of notes) process.stderr.write(`guestabi: export-firecracker: note: ${n}\n`);
    });
}
