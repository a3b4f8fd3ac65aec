/** inventory add / add-sim / vms add / import / list / remove: what they do (inventory-commands.ts registers them). */
import { basename } from "node:path";
import type { Command } from "commander";
import { SimHosts } from "../fleet/fleet.js";
import type { StoredAbi } from "../fleet/model.js";
import { abiHash, profileHash } from "../fleet/model.js";
import type { HostProfile } from "../formats/profile.js";
import { vcpuFeatures } from "../kvm/index.js";
import type { VcpuFeatureName } from "../kvm/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { VCPU_CONFIGS } from "../probe/vcpu-configs.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { importFleet } from "../inventory/import-fleet.js";
import { checkRows } from "../inventory/store.js";
import { UNLABELLED_CPU, withInventory } from "./inventory-source.js";
import type { HostRow, Upserted, VmRow } from "../inventory/store.js";
import { importHostProfile } from "../vmm/profile-import.js";
import { IMPORT_BYTES } from "./import-actions.js";
import { HOST_DEFAULTS, LISTS } from "./inventory-commands.js";
import type { ListKind } from "./inventory-commands.js";
import { readBytes, readCheckSubject, readEach, readFleetInput } from "./input-files.js";
import { formatTable, toJson } from "./output.js";
import { UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

interface DbOptions {
  db: string;
  json?: boolean;
}

const short = (hash: string): string => hash.slice(0, 12);
const plural = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;
/** "3 VMs", "3 VMs web-1 .. web-3", with " (1 replaced)" when some had the names already. */
const upsertedText = (u: Upserted, what: string, names = ""): string =>
  `${plural(u.added + u.replaced, what)}${names && ` ${names}`}${u.replaced ? ` (${u.replaced} replaced)` : ""}`;

// ---- add: hosts from their profiles ---------------------------------------------------------------

/** A host's name from its file: the base name without .json and .profile. */
function hostNameOf(file: string): string {
  return basename(file)
    .replace(/\.json$/, "")
    .replace(/\.profile$/, "");
}

/** The group of a host not given one: its kernel and CPU. */
function defaultGroup(p: HostProfile): string {
  return `${p.host.release}/${p.host.cpuLabel ?? UNLABELLED_CPU}`;
}

interface AddOptions extends DbOptions {
  group?: string;
  name?: string;
  release?: string;
  cpuLabel?: string;
}

export async function addHosts(files: string[], o: AddOptions): Promise<CommandResult> {
  if (o.name !== undefined && files.length !== 1)
    throw new UsageError(`--name names one host: give one file, not ${files.length}`);
  const profiles = await readEach(files, async (file) => {
    const bytes = await readBytes(file, IMPORT_BYTES, "a Firecracker dump or host profile");
    return importHostProfile(bytes.toString("utf8"), {
      source: file,
      ...(o.release !== undefined ? { release: o.release } : {}),
      ...(o.cpuLabel !== undefined ? { cpuLabel: o.cpuLabel } : {}),
    });
  });
  const hosts = profiles.map((p, i) => ({
    name: o.name ?? hostNameOf(files[i]!),
    group: o.group ?? defaultGroup(p),
    profile: profileHash(p),
    release: p.host.release,
    cpu: p.host.cpuLabel,
  }));
  const rows = hosts.map(({ name, group, profile }): HostRow => ({ name, group, profile }));
  checkRows({ hosts: rows });
  const done = await withInventory(o.db, false, (inv) => inv.add({ profiles, hosts: rows }));
  if (o.json) return { stdout: toJson({ inventory: done.inventory, ...done.hosts, hosts }) };
  return {
    stdout: hosts
      .map((h) => `host ${h.name}: group ${h.group}, ${h.release}, profile ${short(h.profile)}\n`)
      .concat(`${upsertedText(done.hosts, "host")} written to ${done.inventory}\n`)
      .join(""),
  };
}

// ---- add-sim: simulated hosts -----------------------------------------------------------------------

interface AddSimOptions extends DbOptions {
  kernel: SimGeneration;
  cpu: string;
  hosts: number;
  group: string;
  name?: string;
}

export async function addSimHosts(o: AddSimOptions): Promise<CommandResult> {
  // Every configuration the CPU can run: the VMs added later may use any of them.
  const sim = new SimHosts(VCPU_CONFIGS.map((c) => vcpuFeatures(...c.features)));
  const profile = sim.profile(o.kernel, o.cpu);
  const hash = profileHash(profile);
  const prefix = o.name ?? o.group;
  const hosts: HostRow[] = Array.from({ length: o.hosts }, (_, i) => ({
    name: `${prefix}-${i + 1}`,
    group: o.group,
    profile: hash,
  }));
  checkRows({ hosts });
  const done = await withInventory(o.db, false, (inv) => inv.add({ profiles: [profile], hosts }));
  const summary = {
    inventory: done.inventory,
    group: o.group,
    first: hosts[0]!.name,
    last: hosts.at(-1)!.name,
    kernel: o.kernel,
    release: profile.host.release,
    cpu: o.cpu,
    profile: hash,
    configs: profile.configs.map((c) => c.name),
    ...done.hosts,
  };
  if (o.json) return { stdout: toJson(summary) };
  return {
    stdout: `${upsertedText(done.hosts, "simulated host", `${summary.first} .. ${summary.last}`)} written to ${done.inventory}: group ${o.group}, ${summary.release} on ${o.cpu}, profile ${short(hash)} (${summary.configs.join(", ")})\n`,
  };
}

// ---- vms add ------------------------------------------------------------------------------------------

interface VmsAddOptions extends DbOptions {
  group?: string;
  host?: string;
  count: number;
  name?: string;
  abi: string;
  features: VcpuFeatureName[];
  vcpus: number;
  vmm?: RestorePolicy;
}

/** The ABI of --abi: host-defaults with --features, or what a template or snapshot file holds. */
async function abiOf(o: VmsAddOptions, featuresGiven: boolean): Promise<StoredAbi> {
  if (o.abi === HOST_DEFAULTS) return { kind: "host-defaults", features: vcpuFeatures(...o.features) };
  if (featuresGiven) throw new UsageError(`--features is for --abi ${HOST_DEFAULTS}: ${o.abi} has its own`);
  const { subject } = await readCheckSubject(o.abi);
  return "vcpus" in subject
    ? { kind: "snapshot", snapshot: subject }
    : { kind: "template", template: subject };
}

export async function addVms(o: VmsAddOptions, cmd: Command): Promise<CommandResult> {
  if ((o.group === undefined) === (o.host === undefined))
    throw new UsageError("give the VMs' place: --group G (its hosts in turn) or --host H, one of them");
  const abi = await abiOf(o, cmd.getOptionValueSource("features") !== "default");
  const hash = abiHash(abi);
  const vmm = o.vmm?.id ?? "guestabi";
  const prefix = o.name ?? `${o.group ?? o.host}-vm`;
  const done = await withInventory(o.db, true, async (inv) => {
    const hosts =
      o.host !== undefined ? [o.host] : (await inv.listHosts({ group: o.group! })).map((h) => h.name);
    const vms: VmRow[] = Array.from({ length: o.count }, (_, i) => ({
      name: `${prefix}-${i + 1}`,
      host: hosts[i % hosts.length]!,
      abi: hash,
      vmm,
      vcpus: o.vcpus,
    }));
    return { hosts: hosts.length, ...(await inv.add({ abis: [abi], vms })).vms };
  });
  const where = o.host !== undefined ? `host ${o.host}` : `${plural(done.hosts, "host")} of group ${o.group}`;
  const summary = {
    inventory: done.inventory,
    first: `${prefix}-1`,
    last: `${prefix}-${o.count}`,
    ...(o.group !== undefined ? { group: o.group } : { host: o.host }),
    hosts: done.hosts,
    abi: hash,
    abiKind: abi.kind,
    vmm,
    vcpus: o.vcpus,
    added: done.added,
    replaced: done.replaced,
  };
  if (o.json) return { stdout: toJson(summary) };
  return {
    stdout: `${upsertedText(done, "VM", `${summary.first} .. ${summary.last}`)} written to ${done.inventory}: on ${where}, ABI ${abi.kind} ${short(hash)}, VMM ${vmm}, ${plural(o.vcpus, "vCPU")}\n`,
  };
}

// ---- list -------------------------------------------------------------------------------------------

interface ListOptions extends DbOptions {
  group?: string;
  host?: string;
  limit?: number;
  offset?: number;
}

export async function list(what: string, o: ListOptions): Promise<CommandResult> {
  if (!(LISTS as readonly string[]).includes(what))
    throw new UsageError(`nothing called '${what}' to list (${LISTS.join(", ")})`);
  const kind = what as ListKind;
  if (kind !== "vms" && o.host !== undefined) throw new UsageError("--host is for 'list vms'");
  if (kind === "groups" && (o.group !== undefined || o.limit !== undefined || o.offset !== undefined))
    throw new UsageError(
      "'list groups' lists every group: --group, --limit and --offset are for hosts and vms",
    );
  const page = { limit: o.limit, offset: o.offset };
  const { stdout } = await withInventory(o.db, true, async (inv): Promise<{ stdout: string }> => {
    switch (kind) {
      case "groups": {
        const groups = await inv.listGroups();
        if (o.json) return { stdout: toJson(groups) };
        const rows = groups.map((g) => [
          g.group,
          String(g.hosts),
          String(g.vms),
          g.kernels.join(","),
          g.cpus.join(","),
        ]);
        return { stdout: formatTable(["GROUP", "HOSTS", "VMS", "KERNELS", "CPUS"], rows) };
      }
      case "hosts": {
        const hosts = await inv.listHosts({ group: o.group, ...page });
        if (o.json) return { stdout: toJson(hosts) };
        const rows = hosts.map((h) => [h.name, h.group, h.release, h.cpu ?? "-", short(h.profile)]);
        return { stdout: formatTable(["HOST", "GROUP", "KERNEL", "CPU", "PROFILE"], rows) };
      }
      case "vms": {
        const vms = await inv.listVms({ group: o.group, host: o.host, ...page });
        if (o.json) return { stdout: toJson(vms) };
        const rows = vms.map((v) => [
          v.name,
          v.host,
          v.group,
          `${v.abiKind} ${short(v.abi)}`,
          v.vmm,
          String(v.vcpus),
        ]);
        return { stdout: formatTable(["VM", "HOST", "GROUP", "ABI", "VMM", "VCPUS"], rows) };
      }
    }
  });
  return { stdout };
}

// ---- import, remove ----------------------------------------------------------------------------------

export async function importFleetFile(file: string, o: DbOptions): Promise<CommandResult> {
  const fleet = await readFleetInput(file);
  const done = await withInventory(o.db, false, (inv) => importFleet(inv, fleet));
  const summary = {
    inventory: done.inventory,
    fleet: fleet.name,
    groups: fleet.groups.length,
    hosts: done.hosts,
    vms: done.vms,
    profiles: new Set(done.profiles).size,
    abis: new Set(done.abis).size,
  };
  if (o.json) return { stdout: toJson(summary) };
  return {
    stdout: `fleet ${fleet.name} written to ${done.inventory}: ${plural(summary.groups, "group")}, ${upsertedText(done.hosts, "host")}, ${upsertedText(done.vms, "VM")}, ${plural(summary.profiles, "profile")}, ${plural(summary.abis, "ABI")}\n`,
  };
}

export async function removeHosts(
  names: string[],
  o: DbOptions & { withVms?: boolean },
): Promise<CommandResult> {
  const done = await withInventory(o.db, true, (inv) => inv.removeHosts(names, { withVms: o.withVms }));
  if (o.json) return { stdout: toJson(done) };
  return {
    stdout: `removed ${plural(done.hosts, "host")} and ${plural(done.vms, "VM")} from ${done.inventory}\n`,
  };
}

export async function removeVms(names: string[], o: DbOptions): Promise<CommandResult> {
  const done = await withInventory(o.db, true, (inv) => inv.removeVms(names));
  if (o.json) return { stdout: toJson(done) };
  return { stdout: `removed ${plural(done.vms, "VM")} from ${done.inventory}\n` };
}
