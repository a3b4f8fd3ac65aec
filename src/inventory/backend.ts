/**
 * What store.ts asks of a database: the SQL dialect's few differences, queries with `?` parameters,
 * transactions, and the two bulk upserts whose fastest form differs by database (prepared statements
 * in one SQLite transaction, multi-row INSERTs of unnested arrays on PostgreSQL).
 */

/** A problem with an inventory or what was asked of it: one line, the database named. */
export class InventoryError extends Error {
  override name = "InventoryError";
  constructor(message: string) {
    super(message.split("\n")[0]!);
  }
}

/** A host as written: its name, its group's name and its profile's content hash. */
export interface HostRow {
  name: string;
  group: string;
  profile: string;
}

/** A VM as written: its name, its host's name, its ABI's content hash, its VMM (--vmm name), vCPUs. */
export interface VmRow {
  name: string;
  host: string;
  abi: string;
  vmm: string;
  vcpus: number;
}

export interface Dialect {
  readonly name: "sqlite" | "postgres";
  /**
   * The column types of the schema: a generated key, a reference to one, text (byte order), bytes;
   * and what makes a table with a primary key of its own stored by that key alone.
   */
  readonly types: { id: string; ref: string; text: string; bytes: string; withoutRowid: string };
  /**
   * Whether the fleet model counts a host's VMs first and then the hosts' counts: on SQLite the first
   * step reads the vms_by_host index in order and needs no sort (a million VMs: 0.3 s instead of 0.7);
   * PostgreSQL hashes each step, and one step is faster there (1.1 s instead of 1.3; a group 0.13 s
   * instead of 0.29).
   */
  readonly countVmsByHostFirst: boolean;
  /** A table `alias` of one text column, `value`: the list given as the one parameter `listParam` makes. */
  list(alias: string): string;
  listParam(values: readonly string[]): unknown;
}

export interface Querier {
  /** The rows of a query; parameters are `?` in the text. */
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a statement; the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/** A transaction: every row of one call or none. Names and hashes given are known to exist. */
export interface Tx extends Querier {
  upsertHosts(rows: readonly HostRow[]): Promise<void>;
  upsertVms(rows: readonly VmRow[]): Promise<void>;
}

export interface Backend extends Querier {
  readonly dialect: Dialect;
  /** The database as errors name it: a file path, or a PostgreSQL URL without its password. */
  readonly source: string;
  /** Runs `fn` in a transaction; `readOnly`: one consistent view of the database, no writes. */
  transaction<T>(fn: (tx: Tx) => Promise<T>, readOnly?: boolean): Promise<T>;
  close(): Promise<void>;
}
