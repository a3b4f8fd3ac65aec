/** export firecracker / qemu / firecracker-remove-regs: what they do (export-commands.ts registers them). */
import { exportQemu, formatQemuExport } from "../vmm/export-qemu.js";
import type { QemuVersion } from "../vmm/qemu.js";
import type { FirecrackerHost } from "../vmm/firecracker.js";
import { formatFirecracker, toFirecracker } from "../vmm/firecracker.js";
import {
  firecrackerRemoveRegs as removeRegsPlan,
  formatRemoveRegs,
  removeRegsCommand,
} from "../vmm/firecracker-remove-regs.js";
import {
  checkOutput,
  readEach,
  readProfileFile,
  readSnapshotInput,
  readTemplateFile,
  writeOutput,
} from "./input-files.js";
import { toJson } from "./output.js";
import type { CommandResult } from "./run-command.js";

export interface FirecrackerOptions {
  out: string;
  hosts?: string[];
  quiet?: boolean;
}

/** The Firecracker template export; `label` (the name it was called by) prefixes its stderr lines. */
export async function firecracker(
  label: string,
  file: string,
  o: FirecrackerOptions,
): Promise<CommandResult> {
  const inputs = [file, ...(o.hosts ?? [])];
  await checkOutput(o.out, inputs);
  const template = await readTemplateFile(file);
  const hosts: FirecrackerHost[] | undefined = o.hosts
    ? (await readEach(o.hosts, readProfileFile)).map((profile, k) => ({ name: o.hosts![k]!, profile }))
    : undefined;
  const r = toFirecracker(template, hosts ? { hosts } : {});
  const refusals = r.refused.flatMap(({ host, violations }) =>
    violations.map(
      (v) => `${label}: ${host}: Firecracker refuses it at ${v.at || "the template"}: ${v.error}`,
    ),
  );
  return {
    ...(await writeOutput(o.out, formatFirecracker(r.template), inputs)),
    notes: [...(o.quiet ? [] : r.notes.map((n) => `${label}: note: ${n}`)), ...refusals],
    ok: refusals.length === 0,
  };
}

export async function qemu(
  file: string,
  o: { hosts: string[]; qemu: QemuVersion; json?: boolean },
): Promise<CommandResult> {
  const template = await readTemplateFile(file);
  const profiles = await readEach(o.hosts, readProfileFile);
  const r = exportQemu(template, profiles, o.qemu, { names: o.hosts });
  return { stdout: o.json ? toJson(r) : formatQemuExport(r), ok: r.ok };
}

interface RemoveRegsCliOptions {
  host: string;
  sourceProfile?: string;
  vmstatePath: string;
  outputPath: string;
  json?: boolean;
}

export async function firecrackerRemoveRegs(file: string, o: RemoveRegsCliOptions): Promise<CommandResult> {
  const snapshot = await readSnapshotInput(file);
  const host = await readProfileFile(o.host);
  const source = o.sourceProfile ? await readProfileFile(o.sourceProfile) : undefined;
  const plan = removeRegsPlan(snapshot, host, {
    hostName: o.host,
    subjectLabel: file,
    ...(source ? { sourceProfile: source } : {}),
  });
  const ids = plan.remove.map((r) => r.id);
  const json = {
    ...plan,
    command: ids.length ? removeRegsCommand(ids, o.vmstatePath, o.outputPath) : null,
  };
  return {
    stdout: o.json ? toJson(json) : formatRemoveRegs(plan, o.vmstatePath, o.outputPath),
    ok: plan.unsafe.length === 0,
  };
}
