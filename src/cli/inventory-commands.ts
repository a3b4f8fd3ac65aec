/**
 * inventory: the fleet's real hosts, their groups and the VMs on them, in a SQLite file (--db, default
 * guestabi.db) or a PostgreSQL database (--db postgres://...): src/inventory/store.ts.
 *
 *   inventory add PROFILE|DUMP...       hosts from their profiles or Firecracker dumps (as `import` reads them)
 *   inventory add-sim                   simulated hosts (what-if: no real hosts needed)
 *   inventory vms add                   VMs dealt round-robin over a group's hosts, or on one host
 *   inventory import FLEET.json         a fleet file's groups and VMs
 *   inventory list [groups|hosts|vms]
 *   inventory remove hosts|vms NAME...
 *
 * Every input is read and checked before the inventory is opened, and each command's writes are one
 * transaction: bad input is one line, exit 2 (run-command.ts), and nothing written — not even a new
 * database file.
 */
import { basename } from "node:path";
import type { Command } from "commander";
import { SimHosts } from "../fleet/fleet.js";
import type { StoredAbi } from "../fleet/model.js";
import { abiHash, profileHash } from "../fleet/model.js";
import type { HostProfile } from "../formats/profile.js";
import { vcpuFeatures } from "../kvm/index.js";
import { CPU_MODELS } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { VCPU_CONFIGS } from "../probe/session.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { importFleet } from "../inventory/import-fleet.js";
import { DEFAULT_INVENTORY, checkRows } from "../inventory/store.js";
import { UNLABELLED_CPU, withInventory } from "./inventory-source.js";
import type { HostRow, Upserted, VmRow } from "../inventory/store.js";
import { importHostProfile } from "../vmm/profile-import.js";
import { IMPORT_BYTES } from "./import-commands.js";
import { readBytes, readCheckSubject, readEach, readFleetInput } from "./input-files.js";
import { cpuLabelOption, releaseOption, simKernelOption, vmOptions, withVmmOption } from "./options.js";
import { formatTable, toJson } from "./output.js";
import { UsageError, command } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

/** The most hosts or VMs one command adds (a fleet file's limit too). */
const MAX_COUNT = 1_000_000;
/** The host-defaults ABI of --abi. */
const HOST_DEFAULTS = "host-defaults";

const LISTS = ["groups", "hosts", "vms"] as const;
type ListKind = (typeof LISTS)[number];

interface DbOptions {
  db: string;
  json?: boolean;
}

function countOption(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < 1 || n > MAX_COUNT)
      throw new UsageError(`bad ${name} '${text}' (1..${MAX_COUNT})`);
    return n;
  };
}

function pageOption(name: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(n))
      throw new UsageError(`bad ${name} '${text}' (0 or more)`);
    return n;
  };
}

function simCpuOption(text: string): string {
  if (!Object.hasOwn(CPU_MODELS, text))
    throw new UsageError(`unknown CPU model '${text}' (known: ${Object.keys(CPU_MODELS).join(", ")})`);
  return text;
}

function withDb(cmd: Command): Command {
  return cmd
    .option("--db <spec>", "the inventory: a SQLite file, or a postgres:// URL", DEFAULT_INVENTORY)
    .option("--json", "print JSON");
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

async function addHosts(files: string[], o: AddOptions): Promise<CommandResult> {
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

async function addSimHosts(o: AddSimOptions): Promise<CommandResult> {
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
  features: number[];
  vcpus: number;
  vmm?: RestorePolicy;
}

/** The ABI of --abi: host-defaults with --features, or what a template or snapshot file holds. */
async function abiOf(o: VmsAddOptions, featuresGiven: boolean): Promise<StoredAbi> {
  if (o.abi === HOST_DEFAULTS) return { kind: "host-defaults", features: o.features };
  if (featuresGiven) throw new UsageError(`--features is for --abi ${HOST_DEFAULTS}: ${o.abi} has its own`);
  const { subject } = await readCheckSubject(o.abi);
  return "vcpus" in subject
    ? { kind: "snapshot", snapshot: subject }
    : { kind: "template", template: subject };
}

async function addVms(o: VmsAddOptions, cmd: Command): Promise<CommandResult> {
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

async function list(what: string, o: ListOptions): Promise<CommandResult> {
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

// ---- registration -----------------------------------------------------------------------------------

export function registerInventoryCommands(program: Command): void {
  const inventory = program
    .command("inventory")
    .description("the fleet inventory: hosts, groups and VMs (a SQLite file, or PostgreSQL)");

  withDb(
    inventory
      .command("add")
      .description(
        "hosts from their host profiles, Firecracker fingerprint or template dumps (as 'import' reads them)",
      )
      .argument("<files...>", "host profiles, Firecracker fingerprint dumps, template dumps")
      .option("--group <group>", "the hosts' group (default: each host's KERNEL/CPU)")
      .option("--name <name>", "the host's name, with one file (default: the file's name without .json)")
      .option(
        "--cpu-label <name>",
        "what the CPU is (e.g. neoverse-n1), recorded in every profile",
        cpuLabelOption,
      )
      .option(
        "--release <release>",
        "the kernel of template dumps ('uname -r' on their host)",
        releaseOption,
      ),
  ).action(command(addHosts));

  withDb(
    inventory
      .command("add-sim")
      .description("simulated hosts of a kernel and CPU model (what-if, no real hosts needed)")
      .requiredOption("--kernel <kernel>", "the hosts' kernel: a simulator kernel", simKernelOption)
      .requiredOption("--cpu <model>", "the hosts' CPU model", simCpuOption)
      .requiredOption("--hosts <n>", "how many hosts", countOption("--hosts"))
      .requiredOption("--group <group>", "their group")
      .option("--name <prefix>", "hosts PREFIX-1 .. PREFIX-N (default: the group)"),
  ).action(command(addSimHosts));

  const vms = inventory.command("vms").description("the inventory's VMs");
  withDb(
    withVmmOption(
      vmOptions(
        vms
          .command("add")
          .description(
            "VMs on a group's hosts (dealt in turn) or on one host; VMs of the same names are replaced",
          )
          .option("--group <group>", "the group whose hosts run them")
          .option("--host <host>", "the host that runs them")
          .requiredOption("--count <n>", "how many VMs", countOption("--count"))
          .option("--name <prefix>", "VMs PREFIX-1 .. PREFIX-N (default: GROUP-vm or HOST-vm)")
          .option(
            "--abi <abi>",
            `${HOST_DEFAULTS} (with --features), or an ABI template or snapshot file the VMs are pinned to`,
            HOST_DEFAULTS,
          ),
      ),
    ),
  ).action(command((o: VmsAddOptions, cmd: Command) => addVms(o, cmd)));

  withDb(
    inventory
      .command("import")
      .description("a fleet file's groups (simulated hosts GROUP-1 ..) and VMs (NAME-1 ..)")
      .argument("<fleet>", "a fleet description (guestabi-fleet JSON)"),
  ).action(
    command(async (file: string, o: DbOptions) => {
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
    }),
  );

  withDb(
    inventory
      .command("list")
      .description("the inventory's groups (default), hosts or VMs")
      .argument("[what]", LISTS.join(", "), "groups")
      .option("--group <group>", "only this group's hosts or VMs")
      .option("--host <host>", "only this host's VMs")
      .option("--limit <n>", "at most N hosts or VMs", pageOption("--limit"))
      .option("--offset <n>", "skip the first N", pageOption("--offset")),
  ).action(command(list));

  const remove = inventory.command("remove").description("remove hosts or VMs");
  withDb(
    remove
      .command("hosts")
      .description("hosts (refused for a host with VMs, unless --with-vms)")
      .argument("<names...>", "host names")
      .option("--with-vms", "remove their VMs too"),
  ).action(
    command(async (names: string[], o: DbOptions & { withVms?: boolean }) => {
      const done = await withInventory(o.db, true, (inv) => inv.removeHosts(names, { withVms: o.withVms }));
      if (o.json) return { stdout: toJson(done) };
      return {
        stdout: `removed ${plural(done.hosts, "host")} and ${plural(done.vms, "VM")} from ${done.inventory}\n`,
      };
    }),
  );
  withDb(remove.command("vms").description("VMs").argument("<names...>", "VM names")).action(
    command(async (names: string[], o: DbOptions) => {
      const done = await withInventory(o.db, true, (inv) => inv.removeVms(names));
      if (o.json) return { stdout: toJson(done) };
      return { stdout: `removed ${plural(done.vms, "VM")} from ${done.inventory}\n` };
    }),
  );
}
