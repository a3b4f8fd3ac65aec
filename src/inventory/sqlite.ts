/**
 * The SQLite inventory (better-sqlite3): one file, WAL journal so that readers do not wait for a
 * writer, and a busy timeout so that two processes writing take turns instead of failing. Only a new
 * path, an empty file or a SQLite database that is an inventory (or has no tables yet) is opened:
 * anything else — another file, a directory, a FIFO or device, another program's database — is one
 * line and left as it was.
 *
 * better-sqlite3 is synchronous: every call on every SQLite inventory of the process runs in turn (one
 * queue), so that a transaction's statements never interleave with another call's on its connection,
 * and so that two connections of one process never wait for each other: SQLite's busy wait would
 * block the very thread the lock holder needs to finish.
 */
import { open, stat } from "node:fs/promises";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { OutputTargetError, checkOutputTarget } from "../formats/atomic-write.js";
import { InventoryError } from "./backend.js";
import type { Backend, Dialect, HostRow, Tx, VmRow } from "./backend.js";
import { VERSION_TABLE, migrate, refuseNewer } from "./migrations.js";

/** The first 16 bytes of every SQLite 3 database file (https://www.sqlite.org/fileformat.html). */
const SQLITE_HEADER = Buffer.from("SQLite format 3\0", "latin1");
/** How long a writer waits for another process's write transaction before it gives up. */
const BUSY_TIMEOUT_MS = 30_000;
/** Page cache of the connection (negative: KiB), enough for a million VMs' indexes to stay in memory. */
const CACHE_KIB = 256 * 1024;

export const SQLITE_DIALECT: Dialect = {
  name: "sqlite",
  types: {
    id: "INTEGER PRIMARY KEY",
    ref: "INTEGER",
    text: "TEXT",
    bytes: "BLOB",
    withoutRowid: " WITHOUT ROWID",
  },
  countVmsByHostFirst: true,
  list: (alias) => `json_each(?) AS ${alias}`,
  listParam: (values) => JSON.stringify(values),
};

const HOST_UPSERT = `INSERT INTO hosts (name, group_id, profile_id)
  SELECT ?, g.id, p.id FROM host_groups g, profiles p WHERE g.name = ? AND p.hash = ?
  ON CONFLICT (name) DO UPDATE SET group_id = excluded.group_id, profile_id = excluded.profile_id
  WHERE hosts.group_id <> excluded.group_id OR hosts.profile_id <> excluded.profile_id`;

const VM_UPSERT = `INSERT INTO vms (name, host_id, abi_id, vmm, vcpus) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET host_id = excluded.host_id, abi_id = excluded.abi_id, vmm = excluded.vmm,
    vcpus = excluded.vcpus
  WHERE vms.host_id <> excluded.host_id OR vms.abi_id <> excluded.abi_id OR vms.vmm <> excluded.vmm
    OR vms.vcpus <> excluded.vcpus`;

const errnoText = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

/** Whether the database file at `path` exists; InventoryError for a path that is no place for one. */
async function checkPath(path: string, mustExist: boolean): Promise<boolean> {
  let st;
  try {
    st = await checkOutputTarget(path);
  } catch (e) {
    if (e instanceof OutputTargetError)
      throw new InventoryError(`cannot use ${path} as an inventory: ${e.message}`);
    throw new InventoryError(`cannot use ${path} as an inventory: ${errnoText(e)}`);
  }
  if (st === null) {
    if (mustExist)
      throw new InventoryError(`no inventory at ${path} (inventory add, add-sim or import makes one)`);
    const dir = await stat(dirname(path)).catch(() => null);
    if (!dir?.isDirectory()) throw new InventoryError(`cannot create ${path}: no directory ${dirname(path)}`);
    return false;
  }
  if (st.size === 0) return true; // an empty file is an empty database to SQLite
  const header = Buffer.alloc(SQLITE_HEADER.length);
  try {
    const fh = await open(path, "r");
    try {
      await fh.read(header, 0, header.length, 0);
    } finally {
      await fh.close();
    }
  } catch (e) {
    throw new InventoryError(`cannot read ${path}: ${errnoText(e)}`);
  }
  if (!header.equals(SQLITE_HEADER))
    throw new InventoryError(`${path} is not a SQLite database: refusing to use it as an inventory`);
  return true;
}

/**
 * Refuses, before anything is written to it, a database with tables of its own and no inventory
 * version table (another program's) and an inventory newer than this guestabi.
 */
function refuseForeign(db: Database.Database, path: string): void {
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[];
  if (tables.length > 0 && !tables.includes(VERSION_TABLE))
    throw new InventoryError(
      `${path} is a SQLite database but not a guestabi inventory (tables ${tables.slice(0, 3).join(", ")}${tables.length > 3 ? ", ..." : ""}; no ${VERSION_TABLE})`,
    );
  if (tables.length > 0)
    refuseNewer(db.prepare(`SELECT max(version) FROM ${VERSION_TABLE}`).pluck().get() as number, path);
}

/** The calls of this process's SQLite inventories, in turn (see the module comment). */
let queue: Promise<unknown> = Promise.resolve();

class SqliteBackend implements Backend {
  readonly dialect = SQLITE_DIALECT;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly tx: Tx = {
    all: async (sql, params) => this.allNow(sql, params),
    run: async (sql, params) => this.runNow(sql, params),
    upsertHosts: async (rows) => this.upsertHostsNow(rows),
    upsertVms: async (rows) => this.upsertVmsNow(rows),
  };

  constructor(
    private readonly db: Database.Database,
    readonly source: string,
  ) {}

  private statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private allNow<T>(sql: string, params: readonly unknown[] = []): T[] {
    return this.statement(sql).all(...params) as T[];
  }

  private runNow(sql: string, params: readonly unknown[] = []): number {
    return this.statement(sql).run(...params).changes;
  }

  private upsertHostsNow(rows: readonly HostRow[]): void {
    const upsert = this.statement(HOST_UPSERT);
    for (const r of rows) upsert.run(r.name, r.group, r.profile);
  }

  /** Host and ABI ids looked up once each, not once a VM: a million VMs have a few hosts each. */
  private upsertVmsNow(rows: readonly VmRow[]): void {
    const ids = (sql: string, keys: Iterable<string>): Map<string, number> => {
      const get = this.statement(sql).pluck();
      return new Map([...new Set(keys)].map((k) => [k, get.get(k) as number]));
    };
    const hosts = ids(
      "SELECT id FROM hosts WHERE name = ?",
      rows.map((r) => r.host),
    );
    const abis = ids(
      "SELECT id FROM abis WHERE hash = ?",
      rows.map((r) => r.abi),
    );
    const upsert = this.statement(VM_UPSERT);
    for (const r of rows) upsert.run(r.name, hosts.get(r.host), abis.get(r.abi), r.vmm, r.vcpus);
  }

  /** Runs `fn` after every call before it (of any SQLite inventory); a database error as one InventoryError line. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const done = queue.then(fn).catch((e: unknown) => {
      throw e instanceof Database.SqliteError ? new InventoryError(`${this.source}: ${e.message}`) : e;
    });
    queue = done.catch(() => undefined);
    return done;
  }

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.serial(async () => this.allNow<T>(sql, params));
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.serial(async () => this.runNow(sql, params));
  }

  transaction<T>(fn: (tx: Tx) => Promise<T>, readOnly = false): Promise<T> {
    return this.serial(async () => {
      // IMMEDIATE: take the write lock now (waiting out another writer), not at the first write. A
      // reader's DEFERRED transaction reads one snapshot of the database from its first read on.
      this.db.exec(readOnly ? "BEGIN DEFERRED" : "BEGIN IMMEDIATE");
      try {
        const result = await fn(this.tx);
        this.db.exec("COMMIT");
        return result;
      } catch (e) {
        if (this.db.inTransaction) this.db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  close(): Promise<void> {
    return this.serial(async () => {
      this.db.close();
    });
  }
}

/**
 * The inventory in the SQLite file `path`, created (with its schema) when absent unless `mustExist`.
 * InventoryError, the path named, for a path that is not a place for one, a database of another
 * program or of a newer guestabi.
 */
export async function openSqlite(path: string, mustExist: boolean): Promise<Backend> {
  const existed = await checkPath(path, mustExist);
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: existed, timeout: BUSY_TIMEOUT_MS });
  } catch (e) {
    throw new InventoryError(`cannot open ${path}: ${(e as Error).message}`);
  }
  try {
    if (existed) refuseForeign(db, path);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL"); // with WAL: a commit is durable at the next checkpoint, never torn
    db.pragma("foreign_keys = ON");
    db.pragma(`cache_size = -${CACHE_KIB}`);
    const backend = new SqliteBackend(db, path);
    await backend.transaction((tx) => migrate(tx, SQLITE_DIALECT, path));
    return backend;
  } catch (e) {
    db.close();
    if (e instanceof InventoryError) throw e;
    throw new InventoryError(`${path}: ${(e as Error).message}`);
  }
}
