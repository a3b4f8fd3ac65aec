/** pin / save / restore / migrate: what they do on the simulator (vm-commands.ts registers them). */
import { migrateOnSim, pinOnSim, restoreOnSim, saveOnSim } from "../fleet/sim-ops.js";
import { encodeSnapshot } from "../formats/snapshot-binary.js";
import { vcpuFeatures } from "../kvm/index.js";
import type { VcpuFeatureName } from "../kvm/index.js";
import { withSim, withSims } from "./backends.js";
import {
  checkOutput,
  readSnapshotInput,
  readTemplateFile,
  refuseTwoStdouts,
  writeOutput,
} from "./input-files.js";
import { simText } from "./options.js";
import type { SimSpec } from "./options.js";
import { toJson } from "./output.js";
import { STDOUT_PATH, UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";
import { migrateOutcome, migrationUnseen, pinJson, pinText, restoreOutcome } from "./vm-format.js";

export async function pin(o: {
  template: string;
  sim: SimSpec;
  vcpus: number;
  json?: boolean;
}): Promise<CommandResult> {
  const template = await readTemplateFile(o.template);
  const r = withSim(o.sim, (host) => pinOnSim(host, template, o.vcpus));
  return {
    stdout: (o.json ? pinJson : pinText)(o.sim, template, o.vcpus, r),
  };
}

export async function save(o: {
  sim: SimSpec;
  out: string;
  template?: string;
  features: VcpuFeatureName[];
  vcpus: number;
  format: string;
  json?: boolean;
}): Promise<CommandResult> {
  const format = o.format;
  if (format !== "binary" && format !== "json")
    throw new UsageError(`bad --format '${format}' (binary, json)`);
  const toStdout = o.out === STDOUT_PATH;
  refuseTwoStdouts(o.out, o.json);
  if (toStdout && format === "binary" && process.stdout.isTTY)
    throw new UsageError("not writing a binary snapshot to a terminal (redirect stdout, or --format json)");
  const inputs = o.template ? [o.template] : [];
  await checkOutput(o.out, inputs);
  const template = o.template ? await readTemplateFile(o.template) : undefined;
  const note = template ? `pinned to ${template.name ?? o.template}` : "host defaults";
  const snapshot = withSim(o.sim, (host) =>
    saveOnSim(host, { template, vcpus: o.vcpus, features: vcpuFeatures(...o.features) }, note),
  );
  const written = await writeOutput(o.out, encodeSnapshot(snapshot, format), inputs);
  const regs = snapshot.vcpus.reduce((n, v) => n + v.regs.size, 0);
  const report = `saved ${snapshot.vcpus.length} vCPU(s), ${regs} registers, from sim ${simText(o.sim)} to ${toStdout ? "stdout" : o.out} (${format})`;
  if (toStdout) return { ...written, notes: [report] };
  const json = {
    file: o.out,
    format,
    sim: simText(o.sim),
    vcpus: snapshot.vcpus.length,
    registers: regs,
  };
  return {
    stdout: o.json ? toJson(json) : report + "\n",
  };
}

export async function restore(o: { snapshot: string; sim: SimSpec; json?: boolean }): Promise<CommandResult> {
  const snapshot = await readSnapshotInput(o.snapshot);
  const a = withSim(o.sim, (host) => restoreOnSim(snapshot, host));
  return { stdout: restoreOutcome(Boolean(o.json), o.snapshot, o.sim, a), ok: a.arrived };
}

export async function migrate(o: {
  from: SimSpec;
  to: SimSpec;
  template?: string;
  features: VcpuFeatureName[];
  vcpus: number;
  json?: boolean;
}): Promise<CommandResult> {
  const template = o.template ? await readTemplateFile(o.template) : undefined;
  const m = withSims([o.from, o.to], ([from, to]) =>
    migrateOnSim(from!, to!, { template, vcpus: o.vcpus, features: vcpuFeatures(...o.features) }),
  );
  const label = template ? (template.name ?? o.template) : undefined;
  return {
    stdout: migrateOutcome(Boolean(o.json), o.from, o.to, label, m),
    ok: migrationUnseen(m),
  };
}
