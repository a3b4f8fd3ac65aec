/**
 * TEST HELPER: fresh inventories to test against — a SQLite file in a new temporary directory, and,
 * when GUESTABI_TEST_POSTGRES names a server (scripts/postgres-for-tests.sh starts one), a new
 * PostgreSQL database on it, dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";

/** A place for one inventory: its spec (what openInventory takes), raw SQL on it, and its removal. */
export interface TestDatabase {
  spec: string;
  /** Runs SQL on the database behind the inventory's back (what another program, or version, would do). */
  exec(sql: string): Promise<void>;
  drop(): Promise<void>;
}

/** The variable that names the PostgreSQL server the tests may use. */
export const POSTGRES_ENV = "GUESTABI_TEST_POSTGRES";

/** Why the PostgreSQL tests are skipped, or undefined when they run. */
export function postgresSkip(): string | undefined {
  return process.env[POSTGRES_ENV]
    ? undefined
    : `${POSTGRES_ENV} is not set: to test PostgreSQL too, run ${POSTGRES_ENV}=$(scripts/postgres-for-tests.sh) node --test dist/inventory/`;
}

export async function sqliteDatabase(): Promise<TestDatabase> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-inventory-"));
  const spec = path.join(dir, "test.db");
  return {
    spec,
    exec: async (sql) => {
      const db = new Database(spec, { fileMustExist: true });
      try {
        db.exec(sql);
      } finally {
        db.close();
      }
    },
    drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

async function onServer(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A new database on the server of GUESTABI_TEST_POSTGRES (or of `url`). */
export async function postgresDatabase(url = process.env[POSTGRES_ENV]!): Promise<TestDatabase> {
  const name = `guestabi_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  await onServer(url, `CREATE DATABASE ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  const spec = u.toString();
  return {
    spec,
    exec: (sql) => onServer(spec, sql),
    drop: () => onServer(url, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** The backends to test: SQLite always, PostgreSQL when GUESTABI_TEST_POSTGRES is set (else its skip reason). */
export const TEST_BACKENDS: readonly { name: string; make: () => Promise<TestDatabase>; skip?: string }[] = [
  { name: "SQLite", make: sqliteDatabase },
  { name: "PostgreSQL", make: () => postgresDatabase(), skip: postgresSkip() },
];
