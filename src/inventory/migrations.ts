/**
 * The inventory's schema, as an ordered list of migrations: each takes a database of the version
 * before it to its own. A database records its version in `inventory_schema`; opening applies the
 * migrations it lacks in one transaction (on PostgreSQL under an advisory lock, so that two processes
 * opening one new database do not both create it) and refuses a database newer than this guestabi.
 *
 * Never edit a migration that has shipped: add the next one.
 */
import type { Dialect, Querier } from "./backend.js";
import { InventoryError } from "./backend.js";

export interface Migration {
  version: number;
  /** What it adds, a few words. */
  what: string;
  statements(d: Dialect): string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    what: "profiles and ABIs by content hash; groups, hosts and VMs",
    statements: ({ types: { id, ref, text, bytes, withoutRowid } }) => [
      // The profile as serializeProfile writes it; release and CPU label copied out for listings.
      `CREATE TABLE profiles (id ${id}, hash ${text} NOT NULL UNIQUE, release ${text} NOT NULL, cpu ${text},
         json ${text} NOT NULL)`,
      // One encoding a kind: host-defaults' sorted feature bits ("0,2"), a template's JSON file text,
      // a snapshot's binary encoding.
      `CREATE TABLE abis (id ${id}, hash ${text} NOT NULL UNIQUE,
         kind ${text} NOT NULL CHECK (kind IN ('host-defaults', 'template', 'snapshot')),
         features ${text}, template ${text}, snapshot ${bytes},
         CHECK ((kind = 'host-defaults') = (features IS NOT NULL) AND (kind = 'template') = (template IS NOT NULL)
           AND (kind = 'snapshot') = (snapshot IS NOT NULL)))`,
      `CREATE TABLE host_groups (id ${id}, name ${text} NOT NULL UNIQUE)`,
      `CREATE TABLE hosts (id ${id}, name ${text} NOT NULL UNIQUE,
         group_id ${ref} NOT NULL REFERENCES host_groups (id), profile_id ${ref} NOT NULL REFERENCES profiles (id))`,
      // A group's hosts by profile: the host counts of the fleet model, without the table.
      `CREATE INDEX hosts_by_group ON hosts (group_id, profile_id)`,
      // Keyed by name alone (nothing refers to a VM): one B-tree fewer to write a VM into. No REFERENCES:
      // checking a million VMs' host and ABI one by one doubles the time a bulk write takes on PostgreSQL;
      // store.ts checks them once per distinct host and ABI, with writers taking turns.
      `CREATE TABLE vms (name ${text} NOT NULL PRIMARY KEY, host_id ${ref} NOT NULL, abi_id ${ref} NOT NULL,
         vmm ${text} NOT NULL,
         vcpus INTEGER NOT NULL CHECK (vcpus BETWEEN 1 AND 512))${withoutRowid}`,
      // A host's VMs with everything the fleet model counts them by: its VM counts read this index only.
      `CREATE INDEX vms_by_host ON vms (host_id, abi_id, vmm, vcpus)`,
    ],
  },
];

/** The schema version this guestabi writes: its last migration's. */
export const SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** The table that records the version: one row. */
export const VERSION_TABLE = "inventory_schema";

/** InventoryError for a database whose schema is newer than this guestabi's. */
export function refuseNewer(version: number, source: string): void {
  if (version > SCHEMA_VERSION)
    throw new InventoryError(
      `${source}: inventory schema version ${version} is newer than this guestabi's (${SCHEMA_VERSION}): use a newer guestabi`,
    );
}

/**
 * Brings the database `tx` is a transaction on to SCHEMA_VERSION; InventoryError (nothing changed)
 * when it is newer. Returns the version it was at (0: a new database).
 */
export async function migrate(tx: Querier, d: Dialect, source: string): Promise<number> {
  await tx.run(`CREATE TABLE IF NOT EXISTS ${VERSION_TABLE} (version INTEGER NOT NULL)`);
  const [row] = await tx.all<{ version: number | null }>(
    `SELECT max(version) AS version FROM ${VERSION_TABLE}`,
  );
  const current = row?.version ?? 0;
  refuseNewer(current, source);
  if (current === SCHEMA_VERSION) return current;
  for (const m of MIGRATIONS) if (m.version > current) for (const s of m.statements(d)) await tx.run(s);
  await tx.run(`DELETE FROM ${VERSION_TABLE}`);
  await tx.run(`INSERT INTO ${VERSION_TABLE} (version) VALUES (?)`, [SCHEMA_VERSION]);
  return current;
}
