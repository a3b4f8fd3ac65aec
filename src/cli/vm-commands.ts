/**
 * pin / save / restore / migrate / impact / plan: the VMM side, on the simulator (`--sim KERNEL[/CPU]`,
 * like 7.2/neoverse-n1; the CPU defaults to sim-spec.ts's).
 *
 * Exit codes: 2 with one line on stderr and nothing on stdout for bad input (unknown kernel, unreadable
 * template/snapshot/fleet file); for pin and save, 1 with one line when KVM refuses (the register and
 * errno); for restore and migrate, the outcome on stdout either way, exit code 1 when the VM did not
 * arrive (refused by the check, or a KVM failure: the destination VM is destroyed); 0 otherwise.
 */
import type { Command } from "commander";
import { readFile } from "node:fs/promises";
import { describeId, formatId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { VCPU_FEATURES, vcpuFeatureNames, vcpuFeatures } from "../kvm/index.js";
import type { VcpuFeatureName } from "../kvm/index.js";
import type { GuestAbiFingerprint } from "../kvm/sim/fingerprint.js";
import type { SimGeneration, SimSystem } from "../kvm/sim/index.js";
import { SIM_GENERATIONS } from "../kvm/sim/index.js";
import type { Verdict } from "../check/check.js";
import { FleetError, SimHosts, readFleetFile, vmFeatures } from "../fleet/fleet.js";
import type { Fleet } from "../fleet/fleet.js";
import { formatImpact, impact, unpinnableCause, why } from "../fleet/impact.js";
import type { ImpactMode } from "../fleet/impact.js";
import { VmOpError } from "../vm/managed-vm.js";
import type { ManagedVm } from "../vm/managed-vm.js";
import { createPinnedVm } from "../vm/pin.js";
import type { PinReport } from "../vm/pin.js";
import { Baselines, exampleFleet, formatPlan, plan, planToJson } from "../fleet/plan.js";
import { SnapshotFormatError } from "../formats/snapshot.js";
import type { Snapshot } from "../formats/snapshot.js";
import { readSnapshotFile, writeSnapshotFile } from "../formats/snapshot-binary.js";
import { TemplateFormatError, parseTemplateJson } from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import { abiFingerprint, abiOfSnapshot, fingerprintDiff } from "../vm/guest-abi.js";
import { createDefaultVm, restore, save } from "../vm/vm.js";
import type { RestoreReport } from "../vm/vm.js";
import { UsageError, formatTable, toJson } from "./output.js";
import { openSimSpec, parseSimSpec } from "./sim-spec.js";
import type { SimSpec } from "./sim-spec.js";

const write = (s: string): void => {
  process.stdout.write(s);
};

/** KVM refused: one line on stderr, exit code 1, nothing on stdout. */
function refused(e: VmOpError): void {
  process.stderr.write(`guestabi: ${e.message.split("\n")[0]}\n`);
  process.exitCode = 1;
}

function simOption(text: string): SimSpec {
  return parseSimSpec(text);
}

function vcpusOption(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < 1 || n > 512)
    throw new UsageError(`bad --vcpus '${text}' (1..512)`);
  return n;
}

function featuresOption(text: string): number[] {
  const names = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  for (const n of names)
    if (!Object.hasOwn(VCPU_FEATURES, n))
      throw new UsageError(`unknown vCPU feature '${n}' (known: ${Object.keys(VCPU_FEATURES).join(", ")})`);
  return vcpuFeatures(...(names as VcpuFeatureName[]));
}

function kernelOption(text: string): SimGeneration {
  if (!(SIM_GENERATIONS as readonly string[]).includes(text))
    throw new UsageError(`unknown kernel '${text}' (known: ${SIM_GENERATIONS.join(", ")})`);
  return text as SimGeneration;
}

function modeOption(text: string): ImpactMode {
  if (!["as-described", "host-defaults", "pinned"].includes(text))
    throw new UsageError(`bad --mode '${text}' (as-described, host-defaults, pinned)`);
  return text as ImpactMode;
}

async function readTemplate(file: string): Promise<AbiTemplate> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    return parseTemplateJson(text);
  } catch (e) {
    if (e instanceof TemplateFormatError) throw new UsageError(`${file}: ${e.message}`);
    throw e;
  }
}

async function readSnapshot(file: string): Promise<Snapshot> {
  try {
    return await readSnapshotFile(file);
  } catch (e) {
    if (e instanceof SnapshotFormatError) throw new UsageError(e.message);
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new UsageError(`cannot read ${file}: ${code}`);
    throw e;
  }
}

async function readFleet(file: string | undefined): Promise<Fleet> {
  try {
    return file === undefined ? await exampleFleet() : await readFleetFile(file);
  } catch (e) {
    if (e instanceof FleetError) throw new UsageError(e.message);
    throw e;
  }
}

const specText = (s: SimSpec) => `sim ${s.generation}/${s.cpu}`;
const name = (id: RegId) => describeId(id).name;
const hex = (v: bigint | undefined) => (v === undefined ? "-" : "0x" + v.toString(16));

/** A VM started on the simulator: pinned to a template (checked against the host's profile) or with host defaults. */
function startVm(
  sys: SimSystem,
  spec: SimSpec,
  hosts: SimHosts,
  o: { template?: AbiTemplate; vcpus: number; features: number[] },
): { vm: ManagedVm; pin?: PinReport } {
  if (o.template) {
    const r = createPinnedVm(sys, o.template, {
      vcpus: o.vcpus,
      cpuLabel: spec.cpu,
      profile: hosts.profile(spec.generation, spec.cpu),
    });
    return { vm: r.vm, pin: r.report };
  }
  return { vm: createDefaultVm(sys, { vcpus: o.vcpus, features: o.features, cpuLabel: spec.cpu }) };
}

function pinJson(spec: SimSpec, template: AbiTemplate, vcpus: number, r: PinReport): unknown {
  const counts = { ok: 0, "time-varying": 0, adjusted: 0 };
  for (const rb of r.readBacks) if (rb.status !== "mismatch") counts[rb.status]++;
  return {
    sim: `${spec.generation}/${spec.cpu}`,
    template: template.name ?? null,
    vcpus,
    steps: r.steps,
    readBacks: counts,
    adjusted: r.readBacks
      .filter((x) => x.status === "adjusted")
      .map((x) => ({ vcpu: x.vcpu, id: formatId(x.id), name: name(x.id), wrote: x.wrote, read: x.read })),
    changed: r.changed.map((c) => ({
      id: formatId(c.id),
      name: name(c.id),
      hostDefault: c.before,
      pinned: c.after,
    })),
    skipped: r.skipped.map((id) => ({ id: formatId(id), name: name(id) })),
    listedNotInTemplate: r.listedNotInTemplate.map((id) => ({ id: formatId(id), name: name(id) })),
    inTemplateNotListed: r.inTemplateNotListed.map((id) => ({ id: formatId(id), name: name(id) })),
  };
}

function formatPin(spec: SimSpec, template: AbiTemplate, vcpus: number, r: PinReport): string {
  const lines: string[] = [];
  lines.push(
    `pinned a new VM on ${specText(spec)} to template ${template.name ?? "(unnamed)"}: ${vcpus} vCPU${vcpus > 1 ? "s" : ""}`,
    "",
  );
  lines.push(
    formatTable(
      ["STEP", "WHAT"],
      r.steps.map((s) => [s.op, s.detail]),
    ).trimEnd(),
  );
  const c = { ok: 0, "time-varying": 0, adjusted: 0 };
  for (const rb of r.readBacks) if (rb.status !== "mismatch") c[rb.status]++;
  lines.push(
    "",
    `READ-BACK: ${r.readBacks.length} values on ${vcpus} vCPU${vcpus > 1 ? "s" : ""}: ${c.ok} equal, ${c.adjusted} adjusted by KVM, ${c["time-varying"]} time-varying`,
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
    adjusted: r.adjusted.map((x) => ({
      vcpu: x.vcpu,
      id: formatId(x.id),
      name: name(x.id),
      wrote: x.wrote,
      read: x.read,
    })),
    skipped: r.skipped.map((x) => ({ vcpu: x.vcpu, id: formatId(x.id), name: name(x.id), reason: x.reason })),
    unsaved: r.unsaved.map((id) => ({ id: formatId(id), name: name(id) })),
    steps: r.steps,
  };
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

function formatRestore(r: RestoreReport): string[] {
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

function fingerprintLines(before: GuestAbiFingerprint, after: GuestAbiFingerprint | undefined): string[] {
  if (!after) return [`  fingerprint  source ${before.sha256.slice(0, 16)}`];
  const diff = fingerprintDiff(before, after);
  const head = `  fingerprint  source ${before.sha256.slice(0, 16)}, destination ${after.sha256.slice(0, 16)}: ${diff.length ? `the guest sees ${diff.length} difference${diff.length > 1 ? "s" : ""}` : "identical"}`;
  return [
    head,
    ...diff.slice(0, 10).map(([a, b]) => {
      const cause = unpinnableCause(a, b);
      return `    ${a}  ->  ${b.replace(/^[^:]*: /, "")}${cause ? `  (no register pins it: ${cause})` : ""}`;
    }),
  ];
}

export function registerVmCommands(program: Command): void {
  program
    .command("pin")
    .description("pin a new simulated VM to an ABI template and print the read-back verification")
    .requiredOption("--template <file>", "ABI template (guestabi-abi-template JSON)")
    .requiredOption("--sim <kernel[/cpu]>", "the simulated host, e.g. 7.2/neoverse-n1", simOption)
    .option("--vcpus <n>", "vCPUs to create", vcpusOption, 1)
    .option("--json", "print JSON")
    .action(async (o: { template: string; sim: SimSpec; vcpus: number; json?: boolean }) => {
      const template = await readTemplate(o.template);
      const hosts = new SimHosts([template.features]);
      const sys = openSimSpec(`${o.sim.generation}/${o.sim.cpu}`);
      try {
        const r = createPinnedVm(sys, template, {
          vcpus: o.vcpus,
          cpuLabel: o.sim.cpu,
          profile: hosts.profile(o.sim.generation, o.sim.cpu),
        });
        write(
          o.json
            ? toJson(pinJson(o.sim, template, o.vcpus, r.report))
            : formatPin(o.sim, template, o.vcpus, r.report),
        );
      } catch (e) {
        if (e instanceof VmOpError) return refused(e);
        throw e;
      } finally {
        sys.close();
      }
    });

  program
    .command("save")
    .description(
      "start a VM on the simulator (host defaults, or pinned to a template) and write its snapshot",
    )
    .requiredOption("--sim <kernel[/cpu]>", "the simulated host", simOption)
    .requiredOption("--out <file>", "snapshot file to write (atomically)")
    .option("--template <file>", "pin the VM to this ABI template (default: the host's defaults)")
    .option("--features <list>", "vCPU features of an unpinned VM", featuresOption, [VCPU_FEATURES.PSCI_0_2])
    .option("--vcpus <n>", "vCPUs", vcpusOption, 1)
    .option("--format <encoding>", "binary or json", "binary")
    .option("--json", "print JSON")
    .action(
      async (o: {
        sim: SimSpec;
        out: string;
        template?: string;
        features: number[];
        vcpus: number;
        format: string;
        json?: boolean;
      }) => {
        if (o.format !== "binary" && o.format !== "json")
          throw new UsageError(`bad --format '${o.format}' (binary, json)`);
        const template = o.template ? await readTemplate(o.template) : undefined;
        const hosts = new SimHosts([template?.features ?? o.features]);
        const sys = openSimSpec(`${o.sim.generation}/${o.sim.cpu}`);
        let snapshot: Snapshot;
        try {
          const { vm } = startVm(sys, o.sim, hosts, {
            ...(template ? { template } : {}),
            vcpus: o.vcpus,
            features: o.features,
          });
          snapshot = save(vm, {
            note: template ? `pinned to ${template.name ?? o.template}` : "host defaults",
          });
        } catch (e) {
          if (e instanceof VmOpError) return refused(e);
          throw e;
        } finally {
          sys.close();
        }
        try {
          await writeSnapshotFile(o.out, snapshot, o.format);
        } catch (e) {
          throw new UsageError(
            `cannot write ${o.out}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
          );
        }
        const regs = snapshot.vcpus.reduce((n, v) => n + v.regs.size, 0);
        if (o.json)
          write(
            toJson({
              file: o.out,
              format: o.format,
              sim: `${o.sim.generation}/${o.sim.cpu}`,
              vcpus: snapshot.vcpus.length,
              registers: regs,
            }),
          );
        else
          write(
            `saved ${snapshot.vcpus.length} vCPU(s), ${regs} registers, from ${specText(o.sim)} to ${o.out} (${o.format})\n`,
          );
      },
    );

  program
    .command("restore")
    .description("restore a snapshot file on the simulator: check, write, read back; print the outcome")
    .requiredOption("--snapshot <file>", "snapshot file (binary or JSON)")
    .requiredOption("--sim <kernel[/cpu]>", "the simulated destination", simOption)
    .option("--json", "print JSON")
    .action(async (o: { snapshot: string; sim: SimSpec; json?: boolean }) => {
      const snapshot = await readSnapshot(o.snapshot);
      const hosts = new SimHosts(snapshot.vcpus.slice(0, 1).map((v) => v.init.features));
      const profile = hosts.profile(o.sim.generation, o.sim.cpu);
      const sys = openSimSpec(`${o.sim.generation}/${o.sim.cpu}`);
      try {
        const r = restore(snapshot, sys, { profile, cpuLabel: o.sim.cpu });
        if (o.json)
          write(
            toJson({
              restored: true,
              sim: `${o.sim.generation}/${o.sim.cpu}`,
              check: r.report.check,
              restore: restoreJson(r.report),
            }),
          );
        else
          write(
            [`restore ${o.snapshot} on ${specText(o.sim)}: RESTORED`, ...formatRestore(r.report)].join("\n") +
              "\n",
          );
      } catch (e) {
        if (!(e instanceof VmOpError)) throw e;
        outcomeFailure(o.json, `restore ${o.snapshot} on ${specText(o.sim)}`, e);
      } finally {
        sys.close();
      }
    });

  program
    .command("migrate")
    .description(
      "on the simulator: start a VM on one host, save it, restore it on another; print the outcome",
    )
    .requiredOption("--from <kernel[/cpu]>", "the source host", simOption)
    .requiredOption("--to <kernel[/cpu]>", "the destination host", simOption)
    .option("--template <file>", "pin the VM to this ABI template (default: the source host's defaults)")
    .option("--features <list>", "vCPU features of an unpinned VM", featuresOption, [VCPU_FEATURES.PSCI_0_2])
    .option("--vcpus <n>", "vCPUs", vcpusOption, 1)
    .option("--json", "print JSON")
    .action(
      async (o: {
        from: SimSpec;
        to: SimSpec;
        template?: string;
        features: number[];
        vcpus: number;
        json?: boolean;
      }) => {
        const template = o.template ? await readTemplate(o.template) : undefined;
        const features = template?.features ?? o.features;
        const hosts = new SimHosts([features]);
        const title = `migrate ${o.from.generation}/${o.from.cpu} -> ${o.to.generation}/${o.to.cpu}`;
        const src = openSimSpec(`${o.from.generation}/${o.from.cpu}`);
        const dst = openSimSpec(`${o.to.generation}/${o.to.cpu}`);
        try {
          let started;
          try {
            started = startVm(src, o.from, hosts, {
              ...(template ? { template } : {}),
              vcpus: o.vcpus,
              features,
            });
          } catch (e) {
            if (e instanceof VmOpError) return refused(e);
            throw e;
          }
          const snapshot = save(started.vm);
          const source = template
            ? `pinned to ${template.name ?? o.template} (${plural(started.pin?.changed.length ?? 0, "register differs", "registers differ")} from the host's defaults)`
            : `with the host's defaults (features ${vcpuFeatureNames(features).join("+")})`;
          const saved = `${snapshot.vcpus.length} vCPU(s), ${snapshot.vcpus.reduce((n, v) => n + v.regs.size, 0)} registers`;
          // On a throwaway VM of the same simulated host (the probe program runs it).
          const fpFrom = (sys: SimSystem, spec: SimSpec, abi: AbiTemplate | "host-defaults") =>
            abiFingerprint(
              sys,
              abi,
              features,
              abi === "host-defaults" ? undefined : hosts.profile(spec.generation, spec.cpu),
            );
          const before = fpFrom(src, o.from, template ?? "host-defaults");
          let r;
          try {
            r = restore(snapshot, dst, {
              profile: hosts.profile(o.to.generation, o.to.cpu),
              sourceProfile: hosts.profile(o.from.generation, o.from.cpu),
              cpuLabel: o.to.cpu,
            });
          } catch (e) {
            if (!(e instanceof VmOpError)) throw e;
            return outcomeFailure(o.json, title, e, { source, saved, fingerprint: before });
          }
          const after = fpFrom(dst, o.to, abiOfSnapshot(save(r.vm, { createdAt: false })));
          const diff = fingerprintDiff(before, after);
          if (o.json)
            return write(
              toJson({
                migrated: true,
                from: `${o.from.generation}/${o.from.cpu}`,
                to: `${o.to.generation}/${o.to.cpu}`,
                source,
                saved,
                check: r.report.check,
                restore: restoreJson(r.report),
                fingerprint: {
                  source: before.sha256,
                  destination: after.sha256,
                  identical: diff.length === 0,
                  differences: diff,
                },
              }),
            );
          const tolerated = r.report.check.verdicts.filter((v) => v.level === "tolerated").length;
          write(
            [
              `${title}: MIGRATED`,
              `  source       a VM ${source}`,
              `  saved        ${saved}`,
              `  check        ${r.report.check.host}: compatible (${tolerated} tolerated difference${tolerated === 1 ? "" : "s"})`,
              ...formatRestore(r.report),
              ...fingerprintLines(before, after),
            ].join("\n") + "\n",
          );
        } finally {
          src.close();
          dst.close();
        }
      },
    );

  program
    .command("impact")
    .description("what rolling a host group's kernel back does to its VMs (on the simulator)")
    .requiredOption("--fleet <file>", "fleet description (guestabi-fleet JSON)")
    .requiredOption("--rollback <group>", "the host group rolled back")
    .requiredOption("--to <kernel>", "the kernel it goes back to", kernelOption)
    .option("--mode <mode>", "as-described (default), host-defaults, or pinned", modeOption, "as-described")
    .option(
      "--template <file>",
      "with --mode pinned: pin every VM to this template (default: each VM's baseline of the two kernels)",
    )
    .option("--json", "print JSON")
    .action(
      async (o: {
        fleet: string;
        rollback: string;
        to: SimGeneration;
        mode: ImpactMode;
        template?: string;
        json?: boolean;
      }) => {
        const fleet = await readFleet(o.fleet);
        if (!fleet.groups.some((g) => g.name === o.rollback))
          throw new UsageError(
            `no group '${o.rollback}' in ${o.fleet} (groups: ${fleet.groups.map((g) => g.name).join(", ")})`,
          );
        if (o.template && o.mode !== "pinned") throw new UsageError("--template needs --mode pinned");
        const template = o.template ? await readTemplate(o.template) : undefined;
        const hosts = new SimHosts(fleet.vms.map(vmFeatures).concat(template ? [template.features] : []));
        const baselines = new Baselines(fleet, hosts);
        const r = impact(fleet, {
          rollback: o.rollback,
          to: o.to,
          mode: o.mode,
          hosts,
          ...(o.mode === "pinned" ? { pinTo: template ?? ((vm) => baselines.forRollback(vm, o.to)) } : {}),
        });
        if (o.json)
          return write(
            toJson({
              format: "guestabi-impact",
              version: 1,
              ...r,
              vms: r.vms.map((v) => ({ ...v, why: why(v) })),
            }),
          );
        write(formatImpact(r));
      },
    );

  program
    .command("plan")
    .description(
      "baselines, what each host group gives up, and rollback impact with and without pinning (simulator)",
    )
    .option("--fleet <file>", "fleet description (default: the built-in example fleet)")
    .option("--json", "print JSON")
    .action(async (o: { fleet?: string; json?: boolean }) => {
      const fleet = await readFleet(o.fleet);
      const r = plan(fleet);
      write(o.json ? toJson(planToJson(r)) : formatPlan(r));
    });
}

/** A restore or migration that did not arrive: the outcome on stdout, exit code 1. */
function outcomeFailure(
  json: boolean | undefined,
  title: string,
  e: VmOpError,
  extra: { source?: string; saved?: string; fingerprint?: GuestAbiFingerprint } = {},
): void {
  process.exitCode = 1;
  const outcome = e.kind === "refused" ? "REFUSED" : "FAILED";
  if (json) {
    write(
      toJson({
        migrated: false,
        outcome: outcome.toLowerCase(),
        error: e.message,
        ...(e.register !== undefined
          ? { register: formatId(e.register), registerName: name(e.register) }
          : {}),
        ...(e.errno ? { errno: e.errno } : {}),
        verdicts: e.verdicts ?? [],
        destinationVmDestroyed: e.vmDestroyed,
        ...(extra.source ? { source: extra.source, saved: extra.saved } : {}),
      }),
    );
    return;
  }
  const lines = [`${title}: ${outcome}`];
  if (extra.source) lines.push(`  source       a VM ${extra.source}`, `  saved        ${extra.saved}`);
  if (e.kind === "refused") {
    const host = e.message.replace(/^restore: /, "").replace(/ is incompatible .*$/, "");
    lines.push(
      `  check        ${host}: ${e.verdicts?.length ?? 0} incompatible verdicts, nothing was created`,
    );
    lines.push(...verdictRows(e.verdicts ?? []));
  } else {
    lines.push(`  failed       ${e.message.replace(/^restore: /, "")}`);
  }
  write(lines.join("\n") + "\n");
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;
