/**
 * Where a SQLite inventory may live: a new path, an empty file, an inventory. Anything else — a
 * directory, a FIFO, a device, a file of something else, another program's database — is one line
 * and left exactly as it was (no journal files beside it either).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { DEFAULT_INVENTORY, InventoryError, openInventory } from "./store.js";

let dir = "";
const f = (name: string) => path.join(dir, name);

/** The names in the test directory and each file's bytes: what "left as it was" compares. */
function snapshot(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of fs.readdirSync(dir).sort()) {
    const st = fs.lstatSync(f(name));
    out[name] = st.isFile()
      ? fs.readFileSync(f(name)).toString("base64")
      : st.isDirectory()
        ? "dir"
        : "other";
  }
  return out;
}

/** The one-line message openInventory(spec) is refused with, the directory unchanged. */
async function refused(spec: string, opts: { mustExist?: boolean } = {}): Promise<string> {
  const before = snapshot();
  const message = await openInventory(spec, opts).then(
    () => assert.fail(`${spec} was opened`),
    (e: unknown) => {
      assert.ok(e instanceof InventoryError, String(e));
      assert.doesNotMatch(e.message, /\n/);
      return e.message;
    },
  );
  assert.deepEqual(snapshot(), before);
  return message;
}

describe("SQLite inventory paths", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-sqlite-paths-"));
    fs.mkdirSync(f("a-directory"));
    execFileSync("mkfifo", [f("a-fifo")]);
    fs.writeFileSync(f("notes.txt"), "my notes, not a database\n");
    fs.writeFileSync(f("short"), "abc");
    fs.symlinkSync(f("notes.txt"), f("link-to-notes"));
    fs.writeFileSync(
      f("torn.db"),
      Buffer.concat([Buffer.from("SQLite format 3\0", "latin1"), Buffer.alloc(84, 0xee)]),
    );
    const other = new Database(f("other-program.db"));
    other.exec("CREATE TABLE accounts (id INTEGER PRIMARY KEY, owner TEXT)");
    other.close();
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("refuses a directory, a FIFO and a device, saying what they are", async () => {
    assert.equal(
      await refused(f("a-directory")),
      `cannot use ${f("a-directory")} as an inventory: it is a directory, not a regular file`,
    );
    assert.equal(
      await refused(f("a-fifo")),
      `cannot use ${f("a-fifo")} as an inventory: it is a FIFO, not a regular file`,
    );
    assert.equal(
      await refused("/dev/null"),
      "cannot use /dev/null as an inventory: it is a character device, not a regular file",
    );
  });

  it("never touches a file that is not a SQLite database, nor one it reaches through a symlink", async () => {
    for (const name of ["notes.txt", "short", "link-to-notes"])
      assert.equal(
        await refused(f(name)),
        `${f(name)} is not a SQLite database: refusing to use it as an inventory`,
      );
  });

  it("refuses another program's database and a torn one", async () => {
    assert.equal(
      await refused(f("other-program.db")),
      `${f("other-program.db")} is a SQLite database but not a guestabi inventory (tables accounts; no inventory_schema)`,
    );
    assert.match(await refused(f("torn.db")), new RegExp(`^${f("torn.db")}: `));
  });

  it("creates no inventory where there is no directory, or when asked to open an existing one", async () => {
    assert.equal(
      await refused(f("missing/inv.db")),
      `cannot create ${f("missing/inv.db")}: no directory ${f("missing")}`,
    );
    assert.equal(
      await refused(f("new.db"), { mustExist: true }),
      `no inventory at ${f("new.db")} (inventory add, add-sim or import makes one)`,
    );
  });

  it("makes an inventory of a new path or an empty file, and opens it again", async () => {
    fs.writeFileSync(f("empty.db"), "");
    for (const name of ["empty.db", "made.db"]) {
      const inv = await openInventory(f(name));
      await inv.close();
      const again = await openInventory(f(name), { mustExist: true });
      assert.equal(await again.schemaVersion(), 1);
      await again.close();
      assert.equal(fs.readFileSync(f(name)).subarray(0, 16).toString("latin1"), "SQLite format 3\0");
    }
  });

  it(`opens ${DEFAULT_INVENTORY} in the working directory when given no name`, async () => {
    const cwd = process.cwd();
    fs.mkdirSync(f("cwd"));
    process.chdir(f("cwd"));
    try {
      const inv = await openInventory();
      assert.equal(inv.source, DEFAULT_INVENTORY);
      await inv.close();
    } finally {
      process.chdir(cwd);
    }
    assert.deepEqual(fs.readdirSync(f("cwd")), [DEFAULT_INVENTORY]);
  });
});
