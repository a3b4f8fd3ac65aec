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
 * database file. inventory-actions.ts runs them.
 */
import type { Command } from "commander";
import { DEFAULT_INVENTORY } from "../inventory/spec.js";
import { UsageError, lazyCommand, optionParsers } from "./run-command.js";
import { vmOptions, withVmmOption } from "./shared-options.js";

const actions = () => import("./inventory-actions.js");

/** The most hosts or VMs one command adds (a fleet file's limit too). */
const MAX_COUNT = 1_000_000;
/** The host-defaults ABI of --abi. */
export const HOST_DEFAULTS = "host-defaults";

export const LISTS = ["groups", "hosts", "vms"] as const;
export type ListKind = (typeof LISTS)[number];

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

function withDb(cmd: Command): Command {
  return cmd
    .option("--db <spec>", "the inventory: a SQLite file, or a postgres:// URL", DEFAULT_INVENTORY)
    .option("--json", "print JSON");
}

// ---- registration -----------------------------------------------------------------------------------

export function registerInventoryCommands(program: Command): void {
  const parse = optionParsers(program);
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
        parse("cpuLabelOption"),
      )
      .option(
        "--release <release>",
        "the kernel of template dumps ('uname -r' on their host)",
        parse("releaseOption"),
      ),
  ).action(lazyCommand(actions, "addHosts"));

  withDb(
    inventory
      .command("add-sim")
      .description("simulated hosts of a kernel and CPU model (what-if, no real hosts needed)")
      .requiredOption("--kernel <kernel>", "the hosts' kernel: a simulator kernel", parse("simKernelOption"))
      .requiredOption("--cpu <model>", "the hosts' CPU model", parse("simCpuOption"))
      .requiredOption("--hosts <n>", "how many hosts", countOption("--hosts"))
      .requiredOption("--group <group>", "their group")
      .option("--name <prefix>", "hosts PREFIX-1 .. PREFIX-N (default: the group)"),
  ).action(lazyCommand(actions, "addSimHosts"));

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
        parse,
      ),
      parse,
    ),
  ).action(lazyCommand(actions, "addVms"));

  withDb(
    inventory
      .command("import")
      .description("a fleet file's groups (simulated hosts GROUP-1 ..) and VMs (NAME-1 ..)")
      .argument("<fleet>", "a fleet description (guestabi-fleet JSON)"),
  ).action(lazyCommand(actions, "importFleetFile"));

  withDb(
    inventory
      .command("list")
      .description("the inventory's groups (default), hosts or VMs")
      .argument("[what]", LISTS.join(", "), "groups")
      .option("--group <group>", "only this group's hosts or VMs")
      .option("--host <host>", "only this host's VMs")
      .option("--limit <n>", "at most N hosts or VMs", pageOption("--limit"))
      .option("--offset <n>", "skip the first N", pageOption("--offset")),
  ).action(lazyCommand(actions, "list"));

  const remove = inventory.command("remove").description("remove hosts or VMs");
  withDb(
    remove
      .command("hosts")
      .description("hosts (refused for a host with VMs, unless --with-vms)")
      .argument("<names...>", "host names")
      .option("--with-vms", "remove their VMs too"),
  ).action(lazyCommand(actions, "removeHosts"));
  withDb(remove.command("vms").description("VMs").argument("<names...>", "VM names")).action(
    lazyCommand(actions, "removeVms"),
  );
}
