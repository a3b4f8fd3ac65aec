/**
 * The fleet inventory: real (or simulated) hosts in groups, the VMs on them, and the host profiles
 * and VM ABIs they refer to, each stored once under its content hash (fleet/model.ts). SQLite by
 * default (a file, `guestabi.db`), PostgreSQL for a `postgres://` URL; one schema (migrations.ts).
 *
 * What it gives the analysis is a FleetModel, counted in SQL: its cost grows with distinct (group,
 * profile, ABI, VMM, vCPUs) tuples, never with VM count. Every write is one transaction, all of it
 * checked first: a bad row is one InventoryError line and nothing written.
 */
import type { FleetModel, HostCount, StoredAbi, VmCount } from "../fleet/model.js";
import type { AbiKind } from "../fleet/model.js";
import type { HostProfile } from "../formats/profile.js";
import { UnknownVmmError, vmmPolicy } from "../vmm/policies.js";
import { InventoryError } from "./backend.js";
import type { Backend, HostRow, Querier, Tx, VmRow } from "./backend.js";
import { VERSION_TABLE } from "./migrations.js";
import { DEFAULT_INVENTORY, POSTGRES_URL } from "./spec.js";
import { LazyMap } from "./lazy-map.js";
import {
  abiFromRecord,
  abiRecord,
  profileFromRecord,
  profileHeadFromRecord,
  profileRecord,
} from "./stored.js";
import type { AbiRecord, ProfileRecord } from "./stored.js";

export { InventoryError } from "./backend.js";
export type { HostRow, VmRow } from "./backend.js";

export { DEFAULT_INVENTORY, POSTGRES_URL } from "./spec.js";

/** What a write did to rows of one kind: new ones, and existing ones (by name) it replaced. */
export interface Upserted {
  added: number;
  replaced: number;
}

/** Everything one write adds, in one transaction: hosts may name the profiles, VMs the hosts and ABIs. */
export interface InventoryBatch {
  profiles?: readonly HostProfile[];
  abis?: readonly StoredAbi[];
  hosts?: readonly HostRow[];
  vms?: readonly VmRow[];
}

export interface BatchResult {
  /** Content hashes of the batch's profiles and ABIs, in its order. */
  profiles: string[];
  abis: string[];
  hosts: Upserted;
  vms: Upserted;
}

export interface GroupSummary {
  group: string;
  hosts: number;
  vms: number;
  /** The hosts' kernel releases (their profiles' host.release), sorted. */
  kernels: string[];
  /** Their CPU labels, sorted (a profile without one adds none). */
  cpus: string[];
}

export interface HostListing {
  name: string;
  group: string;
  profile: string;
  release: string;
  cpu: string | null;
}

export interface VmListing {
  name: string;
  host: string;
  group: string;
  abi: string;
  abiKind: AbiKind;
  vmm: string;
  vcpus: number;
}

export interface ProfileListing {
  hash: string;
  release: string;
  cpu: string | null;
  hosts: number;
}

export interface InventoryCounts {
  groups: number;
  hosts: number;
  vms: number;
  profiles: number;
  abis: number;
}

export interface Page {
  limit?: number;
  offset?: number;
}

export interface Inventory {
  /** The database as messages name it: its file, or its URL without a password. */
  readonly source: string;
  /** Stores a profile (once per content hash); its profileHash. */
  addProfile(p: HostProfile): Promise<string>;
  /** Stores an ABI (once per content hash); its abiHash. */
  addAbi(a: StoredAbi): Promise<string>;
  /** Adds or replaces hosts by name (a host probed again gets its new profile and group). */
  addHosts(rows: readonly HostRow[]): Promise<Upserted>;
  /** Adds or replaces VMs by name; every host named must exist. */
  addVms(rows: readonly VmRow[]): Promise<Upserted>;
  /** Profiles, ABIs, hosts and VMs in one transaction. */
  add(batch: InventoryBatch): Promise<BatchResult>;
  /** Removes hosts; one with VMs only `withVms` (which removes its VMs too). */
  removeHosts(
    names: readonly string[],
    opts?: { withVms?: boolean },
  ): Promise<{ hosts: number; vms: number }>;
  removeVms(names: readonly string[]): Promise<{ vms: number }>;
  listGroups(): Promise<GroupSummary[]>;
  listHosts(filter?: { group?: string } & Page): Promise<HostListing[]>;
  listVms(filter?: { group?: string; host?: string } & Page): Promise<VmListing[]>;
  profiles(): Promise<ProfileListing[]>;
  counts(): Promise<InventoryCounts>;
  profile(hash: string): Promise<HostProfile>;
  abi(hash: string): Promise<StoredAbi>;
  /** The fleet model of the inventory, or of some of its groups: counts by reference, aggregated in SQL. */
  model(opts?: { groups?: readonly string[]; name?: string }): Promise<FleetModel>;
  schemaVersion(): Promise<number>;
  close(): Promise<void>;
}

// ---- checking what is written -------------------------------------------------------------------

const MAX_NAME = 256;
/** Control characters would break a listing or a one-line message; lone surrogates are not text. */
const NOT_IN_NAMES = /[\p{Cc}\p{Cs}]/u;
const HASH = /^[0-9a-f]{64}$/;
const MAX_VCPUS = 512;

function checkName(kind: string, name: unknown): string {
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_NAME || NOT_IN_NAMES.test(name))
    throw new InventoryError(
      `bad ${kind} name ${JSON.stringify(name) ?? String(name)}: 1 to ${MAX_NAME} characters, no control characters`,
    );
  return name;
}

function checkHash(kind: string, hash: unknown): string {
  if (typeof hash !== "string" || !HASH.test(hash))
    throw new InventoryError(
      `bad ${kind} hash ${JSON.stringify(hash) ?? String(hash)}: 64 lowercase hex digits`,
    );
  return hash;
}

/** InventoryError for the first name given twice. */
function refuseTwice(kind: string, names: readonly string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new InventoryError(`${kind} '${n}' is given twice`);
    seen.add(n);
  }
}

/** The distinct groups and profiles rows name (checked once each, and before the hosts' own names). */
function checkHosts(rows: readonly HostRow[]): { groups: string[]; profiles: string[] } {
  const groups = new Set(rows.map((r) => r.group));
  const profiles = new Set(rows.map((r) => r.profile));
  for (const g of groups) checkName("group", g);
  for (const p of profiles) checkHash("profile", p);
  for (const r of rows) checkName("host", r.name);
  refuseTwice(
    "host",
    rows.map((r) => r.name),
  );
  return { groups: [...groups], profiles: [...profiles] };
}

/** The distinct hosts and ABIs rows name (checked once each, not once a row). */
function checkVms(rows: readonly VmRow[]): { hosts: string[]; abis: string[] } {
  const hosts = new Set<string>();
  const abis = new Set<string>();
  const vmms = new Set<string>();
  for (const r of rows) {
    checkName("VM", r.name);
    if (!Number.isInteger(r.vcpus) || r.vcpus < 1 || r.vcpus > MAX_VCPUS)
      throw new InventoryError(`VM '${r.name}': bad vCPU count ${String(r.vcpus)} (1..${MAX_VCPUS})`);
    hosts.add(r.host);
    abis.add(r.abi);
    vmms.add(r.vmm);
  }
  for (const h of hosts) checkName("host", h);
  for (const a of abis) checkHash("ABI", a);
  for (const vmm of vmms)
    try {
      vmmPolicy(vmm);
    } catch (e) {
      if (e instanceof UnknownVmmError) throw new InventoryError(e.message);
      throw e;
    }
  refuseTwice(
    "VM",
    rows.map((r) => r.name),
  );
  return { hosts: [...hosts], abis: [...abis] };
}

/**
 * InventoryError for the first bad host or VM row of `batch` (what add checks before it writes): for
 * a caller that must not even create a database for a batch it would refuse.
 */
export function checkRows(batch: Pick<InventoryBatch, "hosts" | "vms">): void {
  checkHosts(batch.hosts ?? []);
  checkVms(batch.vms ?? []);
}

const distinct = (values: Iterable<string>): string[] => [...new Set(values)];

// ---- the store --------------------------------------------------------------------------------------

const count = "CAST(count(*) AS INTEGER)";

interface HostCountRow extends HostCount {
  release: string;
  cpu: string | null;
}

class Store implements Inventory {
  constructor(private readonly db: Backend) {}

  get source(): string {
    return this.db.source;
  }

  /** A table `alias` of one column, value: `values`, as one parameter. */
  private list(alias: string): string {
    return this.db.dialect.list(alias);
  }

  private listParam(values: readonly string[]): unknown {
    return this.db.dialect.listParam(values);
  }

  /** The first of `names` (distinct) that `table` has no row of (its `column`), or undefined. */
  private async firstMissing(q: Querier, table: string, column: string, names: readonly string[]) {
    const [row] = await q.all<{ value: string }>(
      `SELECT l.value FROM ${this.list("l")} WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.${column} = l.value) LIMIT 1`,
      [this.listParam(names)],
    );
    return row?.value;
  }

  /** InventoryError (its message from `why`) for the first of `names` that `table` has no row of. */
  private async refuseUnknown(
    q: Querier,
    table: string,
    column: string,
    names: readonly string[],
    why: (missing: string) => string,
  ): Promise<void> {
    const missing = await this.firstMissing(q, table, column, names);
    if (missing !== undefined) throw new InventoryError(why(missing));
  }

  /** InventoryError when a group named does not exist. */
  private async checkGroups(q: Querier, groups: readonly string[]): Promise<void> {
    const missing = await this.firstMissing(q, "host_groups", "name", groups);
    if (missing !== undefined) throw new InventoryError(`no group '${missing}' in ${this.source}`);
  }

  private async tableCount(q: Querier, table: string): Promise<number> {
    const [row] = await q.all<{ n: number }>(`SELECT ${count} AS n FROM ${table}`);
    return row!.n;
  }

  /** Runs `write` and counts the rows of `table` it added; the rest of `rows` it replaced. */
  private async upserting(
    q: Querier,
    table: string,
    rows: number,
    write: () => Promise<void>,
  ): Promise<Upserted> {
    const before = await this.tableCount(q, table);
    await write();
    const added = (await this.tableCount(q, table)) - before;
    return { added, replaced: rows - added };
  }

  /** Drops the groups no host is in any more (their hosts removed or moved). */
  private dropEmptyGroups(q: Querier): Promise<number> {
    return q.run(
      "DELETE FROM host_groups WHERE NOT EXISTS (SELECT 1 FROM hosts h WHERE h.group_id = host_groups.id)",
    );
  }

  private async writeProfiles(tx: Querier, records: readonly ProfileRecord[]): Promise<void> {
    for (const r of records)
      await tx.run(
        "INSERT INTO profiles (hash, release, cpu, json) VALUES (?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
        [r.hash, r.release, r.cpu, r.json],
      );
  }

  private async writeAbis(tx: Querier, records: readonly AbiRecord[]): Promise<void> {
    for (const r of records)
      await tx.run(
        "INSERT INTO abis (hash, kind, features, template, snapshot) VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
        [r.hash, r.kind, r.features, r.template, r.snapshot],
      );
  }

  private async writeHosts(
    tx: Tx,
    rows: readonly HostRow[],
    named: { groups: string[]; profiles: string[] },
  ): Promise<Upserted> {
    await this.refuseUnknown(tx, "profiles", "hash", named.profiles, (missing) => {
      const host = rows.find((r) => r.profile === missing)!;
      return `host '${host.name}': no profile ${missing} in ${this.source} (add the profile first)`;
    });
    await tx.run(
      `INSERT INTO host_groups (name) SELECT l.value FROM ${this.list("l")} WHERE true ON CONFLICT (name) DO NOTHING`,
      [this.listParam(named.groups)],
    );
    const done = await this.upserting(tx, "hosts", rows.length, () => tx.upsertHosts(rows));
    await this.copyHostsIntoVms(
      tx,
      rows.map((r) => r.name),
    );
    await this.dropEmptyGroups(tx); // a host that moved may have left its group empty
    return done;
  }

  /** The group and profile of the hosts named copied into their VMs' rows (see migrations.ts, vms). */
  private copyHostsIntoVms(tx: Tx, hosts: readonly string[]): Promise<number> {
    return tx.run(
      `UPDATE vms SET group_id = h.group_id, profile_id = h.profile_id
         FROM hosts h JOIN ${this.list("l")} ON h.name = l.value
         WHERE vms.host_id = h.id
           AND (vms.group_id IS NULL OR vms.group_id <> h.group_id OR vms.profile_id <> h.profile_id)`,
      [this.listParam(distinct(hosts))],
    );
  }

  private async writeVms(
    tx: Tx,
    rows: readonly VmRow[],
    named: { hosts: string[]; abis: string[] },
  ): Promise<Upserted> {
    await this.refuseUnknown(tx, "hosts", "name", named.hosts, (host) => {
      const vm = rows.find((r) => r.host === host)!;
      return `VM '${vm.name}': no host '${host}' in ${this.source}`;
    });
    await this.refuseUnknown(tx, "abis", "hash", named.abis, (abi) => {
      const vm = rows.find((r) => r.abi === abi)!;
      return `VM '${vm.name}': no ABI ${abi} in ${this.source} (add the ABI first)`;
    });
    const done = await this.upserting(tx, "vms", rows.length, () => tx.upsertVms(rows));
    await this.copyHostsIntoVms(tx, named.hosts);
    return done;
  }

  async add(batch: InventoryBatch): Promise<BatchResult> {
    const profiles = (batch.profiles ?? []).map(profileRecord);
    const abis = (batch.abis ?? []).map(abiRecord);
    const hosts = batch.hosts ?? [];
    const vms = batch.vms ?? [];
    const hostsNamed = checkHosts(hosts);
    const vmsNamed = checkVms(vms);
    const none: Upserted = { added: 0, replaced: 0 };
    return this.db.transaction(async (tx) => {
      await this.writeProfiles(tx, profiles);
      await this.writeAbis(tx, abis);
      return {
        profiles: profiles.map((r) => r.hash),
        abis: abis.map((r) => r.hash),
        hosts: hosts.length > 0 ? await this.writeHosts(tx, hosts, hostsNamed) : none,
        vms: vms.length > 0 ? await this.writeVms(tx, vms, vmsNamed) : none,
      };
    });
  }

  async addProfile(p: HostProfile): Promise<string> {
    return (await this.add({ profiles: [p] })).profiles[0]!;
  }

  async addAbi(a: StoredAbi): Promise<string> {
    return (await this.add({ abis: [a] })).abis[0]!;
  }

  async addHosts(rows: readonly HostRow[]): Promise<Upserted> {
    return (await this.add({ hosts: rows })).hosts;
  }

  async addVms(rows: readonly VmRow[]): Promise<Upserted> {
    return (await this.add({ vms: rows })).vms;
  }

  /** InventoryError naming the first of `names` that `table` lacks (and how many more it lacks). */
  private async refuseMissing(
    tx: Querier,
    kind: string,
    table: string,
    names: readonly string[],
  ): Promise<void> {
    const missing = await tx.all<{ value: string }>(
      `SELECT l.value FROM ${this.list("l")} WHERE NOT EXISTS (SELECT 1 FROM ${table} t WHERE t.name = l.value)`,
      [this.listParam(names)],
    );
    if (missing.length > 0)
      throw new InventoryError(
        `no ${kind} '${missing[0]!.value}' in ${this.source}${missing.length > 1 ? ` (nor ${missing.length - 1} more of those named)` : ""}: nothing removed`,
      );
  }

  async removeHosts(
    names: readonly string[],
    opts: { withVms?: boolean } = {},
  ): Promise<{ hosts: number; vms: number }> {
    const hosts = distinct(names.map((n) => checkName("host", n)));
    const named = `SELECT h.id FROM hosts h JOIN ${this.list("l")} ON h.name = l.value`;
    return this.db.transaction(async (tx) => {
      await this.refuseMissing(tx, "host", "hosts", hosts);
      if (!opts.withVms) {
        const [busy] = await tx.all<{ name: string; vms: number }>(
          `SELECT h.name, ${count} AS vms FROM hosts h JOIN ${this.list("l")} ON h.name = l.value
             JOIN vms v ON v.host_id = h.id GROUP BY h.name ORDER BY h.name LIMIT 1`,
          [this.listParam(hosts)],
        );
        if (busy)
          throw new InventoryError(
            `host '${busy.name}' has ${busy.vms} VM${busy.vms === 1 ? "" : "s"}: remove them first, or the host with its VMs (--with-vms); nothing removed`,
          );
      }
      const vms = await tx.run(`DELETE FROM vms WHERE host_id IN (${named})`, [this.listParam(hosts)]);
      const removed = await tx.run(`DELETE FROM hosts WHERE id IN (${named})`, [this.listParam(hosts)]);
      await this.dropEmptyGroups(tx);
      return { hosts: removed, vms };
    });
  }

  async removeVms(names: readonly string[]): Promise<{ vms: number }> {
    const vms = distinct(names.map((n) => checkName("VM", n)));
    return this.db.transaction(async (tx) => {
      await this.refuseMissing(tx, "VM", "vms", vms);
      const removed = await tx.run(`DELETE FROM vms WHERE name IN (SELECT l.value FROM ${this.list("l")})`, [
        this.listParam(vms),
      ]);
      return { vms: removed };
    });
  }

  /** ` WHERE <column> IN (the ids of the groups named)`, or nothing without `groups`. */
  private groupFilter(column: string, groups: readonly string[] | undefined): [string, unknown[]] {
    if (!groups) return ["", []];
    return [
      ` WHERE ${column} IN (SELECT g.id FROM host_groups g JOIN ${this.list("l")} ON g.name = l.value)`,
      [this.listParam(groups)],
    ];
  }

  /** Hosts by (group, profile), with the profile's release and CPU label. */
  private hostCounts(q: Querier, groups?: readonly string[]): Promise<HostCountRow[]> {
    const [where, params] = this.groupFilter("group_id", groups);
    return q.all<HostCountRow>(
      `SELECT g.name AS "group", p.hash AS profile, p.release, p.cpu, c.hosts
         FROM (SELECT group_id, profile_id, ${count} AS hosts FROM hosts${where} GROUP BY group_id, profile_id) c
         JOIN host_groups g ON g.id = c.group_id JOIN profiles p ON p.id = c.profile_id
         ORDER BY g.name, p.hash`,
      params,
    );
  }

  /** VMs by (group, host profile, ABI, VMM, vCPUs): one row a tuple, whatever the VM count. */
  private vmCounts(q: Querier, groups?: readonly string[]): Promise<VmCount[]> {
    const [where, params] = this.groupFilter("group_id", groups);
    const counted = `SELECT group_id, profile_id, abi_id, vmm, vcpus, ${count} AS vms FROM vms${where}
      GROUP BY group_id, profile_id, abi_id, vmm, vcpus`;
    return q.all<VmCount>(
      `SELECT g.name AS "group", p.hash AS profile, a.hash AS abi, c.vmm, c.vcpus, c.vms
         FROM (${counted}) c
         JOIN host_groups g ON g.id = c.group_id JOIN profiles p ON p.id = c.profile_id JOIN abis a ON a.id = c.abi_id
         ORDER BY g.name, p.hash, a.hash, c.vmm, c.vcpus`,
      params,
    );
  }

  async listGroups(): Promise<GroupSummary[]> {
    const [hosts, vms] = await this.db.transaction(
      (tx) => Promise.all([this.hostCounts(tx), this.vmCounts(tx)]),
      true,
    );
    const groups = new Map<string, { hosts: number; vms: number; kernels: Set<string>; cpus: Set<string> }>();
    for (const h of hosts) {
      let g = groups.get(h.group);
      if (!g) groups.set(h.group, (g = { hosts: 0, vms: 0, kernels: new Set(), cpus: new Set() }));
      g.hosts += h.hosts;
      g.kernels.add(h.release);
      if (h.cpu !== null) g.cpus.add(h.cpu);
    }
    for (const v of vms) groups.get(v.group)!.vms += v.vms;
    return [...groups].map(([group, g]) => ({
      group,
      hosts: g.hosts,
      vms: g.vms,
      kernels: [...g.kernels].sort(),
      cpus: [...g.cpus].sort(),
    }));
  }

  /** ` LIMIT ? OFFSET ?` for a page, with its parameters. */
  private page(p: Page): [string, unknown[]] {
    for (const [k, v] of Object.entries(p))
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 0))
        throw new InventoryError(`bad ${k} ${String(v)}: a whole number, 0 or more`);
    if (p.limit === undefined && p.offset === undefined) return ["", []];
    return [" LIMIT ? OFFSET ?", [p.limit ?? Number.MAX_SAFE_INTEGER, p.offset ?? 0]];
  }

  async listHosts(filter: { group?: string } & Page = {}): Promise<HostListing[]> {
    const [limit, pageParams] = this.page({ limit: filter.limit, offset: filter.offset });
    return this.db.transaction(async (tx) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.group !== undefined) {
        await this.checkGroups(tx, [checkName("group", filter.group)]);
        where.push("g.name = ?");
        params.push(filter.group);
      }
      return tx.all<HostListing>(
        `SELECT h.name, g.name AS "group", p.hash AS profile, p.release, p.cpu
           FROM hosts h JOIN host_groups g ON g.id = h.group_id JOIN profiles p ON p.id = h.profile_id
           ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY h.name${limit}`,
        [...params, ...pageParams],
      );
    }, true);
  }

  async listVms(filter: { group?: string; host?: string } & Page = {}): Promise<VmListing[]> {
    const [limit, pageParams] = this.page({ limit: filter.limit, offset: filter.offset });
    return this.db.transaction(async (tx) => {
      const where: string[] = [];
      const params: unknown[] = [];
      if (filter.group !== undefined) {
        await this.checkGroups(tx, [checkName("group", filter.group)]);
        where.push("g.name = ?");
        params.push(filter.group);
      }
      if (filter.host !== undefined) {
        const host = checkName("host", filter.host);
        if ((await this.firstMissing(tx, "hosts", "name", [host])) !== undefined)
          throw new InventoryError(`no host '${host}' in ${this.source}`);
        where.push("h.name = ?");
        params.push(host);
      }
      return tx.all<VmListing>(
        `SELECT v.name, h.name AS host, g.name AS "group", a.hash AS abi, a.kind AS "abiKind", v.vmm, v.vcpus
           FROM vms v JOIN hosts h ON h.id = v.host_id JOIN host_groups g ON g.id = h.group_id
           JOIN abis a ON a.id = v.abi_id
           ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY v.name${limit}`,
        [...params, ...pageParams],
      );
    }, true);
  }

  profiles(): Promise<ProfileListing[]> {
    return this.db.all<ProfileListing>(
      `SELECT p.hash, p.release, p.cpu, COALESCE(c.hosts, 0) AS hosts FROM profiles p
         LEFT JOIN (SELECT profile_id, ${count} AS hosts FROM hosts GROUP BY profile_id) c ON c.profile_id = p.id
         ORDER BY p.release, p.cpu, p.hash`,
    );
  }

  async counts(): Promise<InventoryCounts> {
    const [row] = await this.db.all<InventoryCounts>(
      `SELECT (SELECT ${count} FROM host_groups) AS groups, (SELECT ${count} FROM hosts) AS hosts,
         (SELECT ${count} FROM vms) AS vms, (SELECT ${count} FROM profiles) AS profiles,
         (SELECT ${count} FROM abis) AS abis`,
    );
    return row!;
  }

  private profileRecords(
    q: Querier,
    hashes: readonly string[],
  ): Promise<Pick<ProfileRecord, "hash" | "json">[]> {
    return q.all(`SELECT p.hash, p.json FROM profiles p JOIN ${this.list("l")} ON p.hash = l.value`, [
      this.listParam(hashes),
    ]);
  }

  private abiRecords(q: Querier, hashes: readonly string[]): Promise<AbiRecord[]> {
    return q.all(
      `SELECT a.hash, a.kind, a.features, a.template, a.snapshot FROM abis a JOIN ${this.list("l")} ON a.hash = l.value`,
      [this.listParam(hashes)],
    );
  }

  async profile(hash: string): Promise<HostProfile> {
    const [r] = await this.profileRecords(this.db, [checkHash("profile", hash)]);
    if (!r) throw new InventoryError(`no profile ${hash} in ${this.source}`);
    return profileFromRecord(r);
  }

  async abi(hash: string): Promise<StoredAbi> {
    const [r] = await this.abiRecords(this.db, [checkHash("ABI", hash)]);
    if (!r) throw new InventoryError(`no ABI ${hash} in ${this.source}`);
    return abiFromRecord(r);
  }

  async model(opts: { groups?: readonly string[]; name?: string } = {}): Promise<FleetModel> {
    const groups = opts.groups && distinct(opts.groups.map((g) => checkName("group", g)));
    const { hostCounts, vmCounts, profiles, abis } = await this.db.transaction(async (tx) => {
      if (groups) await this.checkGroups(tx, groups);
      const hostCounts = (await this.hostCounts(tx, groups)).map(({ group, profile, hosts }): HostCount => ({
        group,
        profile,
        hosts,
      }));
      const vmCounts = await this.vmCounts(tx, groups);
      const profiles = await this.profileRecords(tx, distinct(hostCounts.map((h) => h.profile)));
      const abis = await this.abiRecords(tx, distinct(vmCounts.map((v) => v.abi)));
      return { hostCounts, vmCounts, profiles, abis };
    }, true);
    return {
      name: opts.name ?? this.source,
      profiles: new LazyMap(new Map(profiles.map((r) => [r.hash, r])), profileFromRecord),
      heads: new Map(profiles.map((r) => [r.hash, profileHeadFromRecord(r)])),
      abis: new LazyMap(new Map(abis.map((r) => [r.hash, r])), abiFromRecord),
      hostCounts,
      vmCounts,
    };
  }

  async schemaVersion(): Promise<number> {
    const [row] = await this.db.all<{ version: number }>(
      `SELECT max(version) AS version FROM ${VERSION_TABLE}`,
    );
    return row!.version;
  }

  close(): Promise<void> {
    return this.db.close();
  }
}

/**
 * Opens an inventory: `spec` undefined is `guestabi.db` in the working directory, a postgres:// or
 * postgresql:// URL a PostgreSQL database, anything else a SQLite file — created with its schema when
 * absent, unless `mustExist` (for commands that only read or remove). The schema is brought up to
 * the last migration's version; InventoryError for a database newer than that, a path that is no place for one, a
 * database that cannot be reached.
 */
export async function openInventory(spec?: string, opts: { mustExist?: boolean } = {}): Promise<Inventory> {
  if (spec === "") throw new InventoryError("empty inventory name (a SQLite file or a postgres:// URL)");
  // Each backend's driver is loaded when an inventory of its kind is opened, not with the command line.
  const db = POSTGRES_URL.test(spec ?? "")
    ? await (await import("./postgres.js")).openPostgres(spec!)
    : await (await import("./sqlite.js")).openSqlite(spec ?? DEFAULT_INVENTORY, Boolean(opts.mustExist));
  return new Store(db);
}
