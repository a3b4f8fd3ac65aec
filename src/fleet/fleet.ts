/**
 * A fleet description: host groups (a kernel generation, a CPU model, how many hosts) and the VMs on
 * them, each with the ABI it is started with — an ABI template file, a snapshot file, or
 * `"abi": "host-defaults"` for a VM that pins nothing — and the VMM that saves and restores it (`"vmm"`,
 * a `--vmm` name, default guestabi). JSON, `"format": "guestabi-fleet"`, version 1; the zod schema below
 * is the definition (schema/fleet.schema.json is generated from it: schema.ts). Template and snapshot
 * paths are relative to the fleet file. At most 16 MiB, 4096 groups and 100,000 VM entries (an entry
 * stands for `count` identical VMs).
 *
 * ```json
 * { "format": "guestabi-fleet", "version": 1, "name": "example",
 *   "groups": [{ "name": "new-n1", "kernel": "7.2", "cpu": "neoverse-n1", "hosts": 40 }],
 *   "vms": [{ "name": "web", "group": "new-n1", "count": 120, "abi": "host-defaults" },
 *           { "name": "db", "group": "new-n1", "template": "db.abi.json", "vmm": "qemu" }] }
 * ```
 *
 * Also here: SimHosts, the simulated hosts a fleet runs on, which caches what is costly to compute
 * (host profiles: probe.ts on a SimSystem).
 */
import { dirname, resolve } from "node:path";
import { z } from "zod";
import { KVM_CAP, VCPU_FEATURES, vcpuFeatures } from "../kvm/index.js";
import type { VcpuFeatureName } from "../kvm/index.js";
import { CPU_MODELS, SIM_GENERATIONS, openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration, SimSystem } from "../kvm/sim/index.js";
import { probe } from "../probe/probe.js";
import type { HostProfile } from "../formats/profile.js";
import { VCPU_CONFIGS } from "../probe/session.js";
import { readBounded } from "../formats/bounded-read.js";
import { readSnapshotFile } from "../formats/snapshot-binary.js";
import type { Snapshot } from "../formats/snapshot.js";
import { readTemplateFile } from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import { editDistance, shownValue } from "../formats/json-format.js";
import { VMM_NAMES, vmmPolicy } from "../vmm/policies.js";

export const FLEET_FORMAT = "guestabi-fleet";
export const FLEET_VERSION = 1;
const MAX_FLEET_BYTES = 16 << 20;

const Name = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/, "a name of letters, digits, '.', '_', '+', '-'");
const FEATURE_NAMES = Object.keys(VCPU_FEATURES) as [VcpuFeatureName, ...VcpuFeatureName[]];

const GroupJson = z.strictObject({
  name: Name,
  kernel: z.enum(SIM_GENERATIONS).describe("the hosts' kernel generation"),
  cpu: z
    .enum(Object.keys(CPU_MODELS) as [string, ...string[]], {
      error: () => `a CPU model of the simulator (${Object.keys(CPU_MODELS).join(", ")})`,
    })
    .describe("the hosts' CPU model"),
  hosts: z.int().min(1).max(1_000_000).describe("how many hosts the group has"),
});

const VmBase = {
  name: Name,
  group: Name.describe("the host group the VM runs in"),
  count: z.int().min(1).max(1_000_000).default(1).describe("identical VMs this entry stands for"),
  vcpus: z.int().min(1).max(512).default(1),
  vmm: z
    .enum(VMM_NAMES as [string, ...string[]], {
      error: (i) => `unknown VMM ${shownValue(i.input)} (known: ${VMM_NAMES.join(", ")})`,
    })
    .default("guestabi")
    .describe("the VMM that saves and restores the VM (a --vmm name)"),
};

/** The three kinds of VM entry, each named by the key that says how its ABI is chosen. */
const VM_ENTRIES = {
  abi: z.strictObject({
    ...VmBase,
    abi: z.literal("host-defaults").describe("unpinned: the guest gets whatever the host kernel shows"),
    features: z
      .array(z.enum(FEATURE_NAMES))
      .max(FEATURE_NAMES.length)
      .default(["PSCI_0_2"])
      .describe("KVM_ARM_VCPU_INIT features"),
  }),
  template: z.strictObject({
    ...VmBase,
    template: z.string().min(1).describe("an ABI template file (guestabi-abi-template)"),
  }),
  snapshot: z.strictObject({
    ...VmBase,
    snapshot: z.string().min(1).describe("a snapshot file (binary or JSON)"),
  }),
};
type VmEntryKind = keyof typeof VM_ENTRIES;
const VM_ENTRY_KINDS = Object.keys(VM_ENTRIES) as VmEntryKind[];

const VmJson = z.union([VM_ENTRIES.abi, VM_ENTRIES.template, VM_ENTRIES.snapshot]);

export const FleetSchema = z
  .strictObject({
    format: z.literal(FLEET_FORMAT),
    version: z.literal(FLEET_VERSION),
    name: Name.optional(),
    groups: z.array(GroupJson).min(1).max(4096),
    vms: z.array(VmJson).max(100_000),
  })
  .describe("guestabi fleet: host groups and the VMs on them, for rollback impact and planning");
export type FleetJson = z.input<typeof FleetSchema>;

export interface HostGroup {
  name: string;
  kernel: SimGeneration;
  cpu: string;
  hosts: number;
}

/** How a VM's ABI is chosen, loaded. */
export type VmAbi =
  | { kind: "host-defaults"; features: number[] }
  | { kind: "template"; path: string; template: AbiTemplate }
  | { kind: "snapshot"; path: string; snapshot: Snapshot };

export interface FleetVm {
  name: string;
  group: string;
  count: number;
  vcpus: number;
  abi: VmAbi;
  /** The VMM's `--vmm` name as its policy names itself ("qemu" is its newest version's, "qemu@11.1"). */
  vmm: string;
}

export interface Fleet {
  name: string;
  groups: HostGroup[];
  vms: FleetVm[];
}

/** A fleet description that cannot be used: one line. */
export class FleetError extends Error {
  override name = "FleetError";
}

const pathText = (path: readonly PropertyKey[]): string =>
  path
    .map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`))
    .join("")
    .replace(/^\./, "");

/** The keys a strict object at `path` of a fleet document knows (top level, a group, a VM entry). */
function knownKeys(path: readonly PropertyKey[], vm?: VmEntryKind): string[] | undefined {
  if (path.length === 0) return Object.keys(FleetSchema.shape);
  if (path.length === 2 && path[0] === "groups") return Object.keys(GroupJson.shape);
  if (path.length === 2 && path[0] === "vms" && vm) return Object.keys(VM_ENTRIES[vm].shape);
  return undefined;
}

/** One issue as a line: "vms[2]: unknown key "templat" (known: ...)", "groups[0].kernel: ...". */
function issueText(i: z.core.$ZodIssue, prefix: readonly PropertyKey[], vm?: VmEntryKind): string {
  const path = [...prefix, ...i.path];
  if (i.code === "unrecognized_keys") {
    const known = knownKeys(path, vm);
    const keys = i.keys.map(shownValue).join(", ");
    return `${pathText(path) || "(top)"}: unknown key${i.keys.length > 1 ? "s" : ""} ${keys}${known ? ` (known: ${known.join(", ")})` : ""}`;
  }
  return `${pathText(path) || "(top)"}: ${i.message.split("\n")[0]}`;
}

/**
 * Why a VM entry matches none of the three kinds, from the kind its keys name: the key that says how
 * its ABI is chosen (abi, template, snapshot), or a misspelling of one (at most 2 edits). Zod's union
 * would only say "Invalid input".
 */
function vmEntryText(entry: unknown, path: readonly PropertyKey[]): string {
  const at = pathText(path);
  if (typeof entry !== "object" || entry === null || Array.isArray(entry))
    return `${at}: expected a VM entry object, got ${shownValue(entry)}`;
  const given = VM_ENTRY_KINDS.filter((k) => Object.hasOwn(entry, k));
  if (given.length > 1)
    return `${at}: ${given.map((k) => `"${k}"`).join(" and ")} exclude each other (one says how the VM's ABI is chosen)`;
  const allKeys = new Set(VM_ENTRY_KINDS.flatMap((k) => Object.keys(VM_ENTRIES[k].shape)));
  const unknown = Object.keys(entry).filter((k) => !allKeys.has(k));
  const kind =
    given[0] ??
    VM_ENTRY_KINDS.find((k) => unknown.some((u) => editDistance(u.toLowerCase().slice(0, 16), k) <= 2));
  if (!kind)
    return `${at}: missing one of "abi", "template", "snapshot" (how the VM's ABI is chosen)${unknown.length ? `; unknown key ${shownValue(unknown[0])}` : ""}`;
  const r = VM_ENTRIES[kind].safeParse(entry);
  if (r.success) return `${at}: not a VM entry`;
  // A misspelt key is the cause of the missing one it stands for: name it first.
  const issue = r.error.issues.find((i) => i.code === "unrecognized_keys") ?? r.error.issues[0]!;
  return issueText(issue, path, kind);
}

function firstIssue(doc: unknown, e: z.ZodError): string {
  const i = e.issues[0]!;
  const more = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more)` : "";
  if (i.path[0] === "vms" && typeof i.path[1] === "number") {
    const at = i.path.slice(0, 2);
    return vmEntryText((doc as { vms: unknown[] }).vms[i.path[1]], at) + more;
  }
  return issueText(i, []) + more;
}

/** Parses and checks a fleet document (not its files): FleetError on the first problem. */
export function parseFleet(doc: unknown, source = "fleet"): z.output<typeof FleetSchema> {
  const d = doc as { format?: unknown; version?: unknown } | null;
  if (typeof d !== "object" || d === null || d.format !== FLEET_FORMAT)
    throw new FleetError(`${source}: not a ${FLEET_FORMAT} document (no "format": "${FLEET_FORMAT}")`);
  if (d.version !== FLEET_VERSION)
    throw new FleetError(
      `${source}: unsupported fleet version ${shownValue(d.version)} (this guestabi reads ${FLEET_VERSION})`,
    );
  const r = FleetSchema.safeParse(doc);
  if (!r.success) throw new FleetError(`${source}: ${firstIssue(doc, r.error)}`);
  const f = r.data;
  const groups = new Set<string>();
  for (const g of f.groups) {
    if (groups.has(g.name)) throw new FleetError(`${source}: group '${g.name}' is defined twice`);
    groups.add(g.name);
  }
  const vms = new Set<string>();
  for (const v of f.vms) {
    if (vms.has(v.name)) throw new FleetError(`${source}: VM '${v.name}' is defined twice`);
    vms.add(v.name);
    if (!groups.has(v.group))
      throw new FleetError(`${source}: VM '${v.name}' names an unknown group '${v.group}'`);
  }
  return f;
}

/** A fleet from a parsed document, loading its template and snapshot files relative to `baseDir`. */
export async function loadFleet(doc: unknown, baseDir: string, source = "fleet"): Promise<Fleet> {
  const f = parseFleet(doc, source);
  const vms: FleetVm[] = [];
  for (const v of f.vms) {
    let abi: VmAbi;
    try {
      if ("abi" in v) abi = { kind: "host-defaults", features: vcpuFeatures(...v.features) };
      else if ("template" in v) {
        const path = resolve(baseDir, v.template);
        abi = { kind: "template", path, template: await readTemplateFile(path) };
      } else {
        const path = resolve(baseDir, v.snapshot);
        abi = { kind: "snapshot", path, snapshot: await readSnapshotFile(path) };
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new FleetError(
        `${source}: VM '${v.name}': ${code ? `cannot read ${(e as { path?: string }).path ?? "its file"}: ${code}` : (e as Error).message}`,
      );
    }
    vms.push({ name: v.name, group: v.group, count: v.count, vcpus: v.vcpus, abi, vmm: vmmPolicy(v.vmm).id });
  }
  return { name: f.name ?? source, groups: f.groups.map((g) => ({ ...g })), vms };
}

/** Reads a fleet file (and the files it names). FleetError for every problem, one line. */
export async function readFleetFile(path: string): Promise<Fleet> {
  let text: string;
  try {
    text = (await readBounded(path, MAX_FLEET_BYTES, "a fleet")).toString("utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new FleetError(code ? `cannot read ${path}: ${code}` : (e as Error).message);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FleetError(`${path}: not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  return loadFleet(doc, dirname(resolve(path)), path);
}

export function groupOf(fleet: Fleet, name: string): HostGroup {
  const g = fleet.groups.find((x) => x.name === name);
  if (!g)
    throw new FleetError(
      `no group '${name}' in fleet ${fleet.name} (groups: ${fleet.groups.map((x) => x.name).join(", ")})`,
    );
  return g;
}

/** The vCPU features a VM starts with. */
export function vmFeatures(v: FleetVm): number[] {
  switch (v.abi.kind) {
    case "host-defaults":
      return v.abi.features;
    case "template":
      return v.abi.template.features;
    case "snapshot":
      return (v.abi.snapshot.vcpus[0]?.init.features ?? []).filter((f) => f !== VCPU_FEATURES.POWER_OFF);
  }
}

// ---- simulated hosts ------------------------------------------------------------------------------

/** The probe configurations that cover these feature sets (psci-0.2 always; configs are exact sets). */
export function configsFor(featureSets: readonly (readonly number[])[]): string[] {
  const out = new Set<string>(["psci-0.2"]);
  for (const fs of featureSets) {
    const key = [...fs].sort((a, b) => a - b).join();
    const c = VCPU_CONFIGS.find((x) => vcpuFeatures(...x.features).join() === key);
    if (c) out.add(c.name);
  }
  return VCPU_CONFIGS.map((c) => c.name).filter((n) => out.has(n));
}

/**
 * The simulated hosts of a fleet: a SimSystem per (kernel, CPU) and its host profile, probed once
 * with the configurations that cover `features` (probe.ts on the simulator; skipped configurations
 * are whatever the CPU cannot do).
 */
export class SimHosts {
  private profiles = new Map<string, HostProfile>();
  private readonly configs: string[];

  constructor(features: readonly (readonly number[])[] = [[VCPU_FEATURES.PSCI_0_2]]) {
    this.configs = configsFor(features);
  }

  /** A fresh simulated host (its VMs are the caller's; close it when done). */
  system(kernel: SimGeneration, cpu: string): SimSystem {
    return openSimKvm({ generation: kernel, cpu });
  }

  /** The host profile of (kernel, CPU), probed on first use. */
  profile(kernel: SimGeneration, cpu: string): HostProfile {
    const key = `${kernel}/${cpu}`;
    let p = this.profiles.get(key);
    if (!p) {
      const sys = this.system(kernel, cpu);
      try {
        const configs = this.configs.filter((name) => {
          const c = VCPU_CONFIGS.find((x) => x.name === name)!;
          return c.needs.every((n) => sys.checkExtension(KVM_CAP[n]) > 0);
        });
        p = probe(sys, {
          configs,
          cpuLabel: cpu,
          toolVersion: "sim",
          now: () => new Date(0),
          clock: () => 0,
        });
      } finally {
        sys.close();
      }
      this.profiles.set(key, p);
    }
    return p;
  }

  get probed(): number {
    return this.profiles.size;
  }
}
