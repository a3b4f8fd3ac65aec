/**
 * TEST HELPER: fresh inventories to test against — a SQLite file in a new temporary directory, and,
 * when GUESTABI_TEST_POSTGRES names a server (scripts/postgres-for-tests.sh starts one), a new
 * PostgreSQL database on it, dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";

/** A place for one inventory: its spec (what openInventory takes), and how to remove it. */
export interface TestDatabase {
  spec: string;
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
  return {
    spec: path.join(dir, "test.db"),
    drop: async () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** A new database on the server of GUESTABI_TEST_POSTGRES (`url` instead when given). */
export async function postgresDatabase(url = process.env[POSTGRES_ENV]!): Promise<TestDatabase> {
  const name = `guestabi_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const u = new URL(url);
  u.pathname = `/${name}`;
  return { spec: u.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}
