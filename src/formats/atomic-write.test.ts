import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeFileAtomic } from "./atomic-write.js";

describe("writeFileAtomic", () => {
  let dir = "";
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "guestabi-atomic-"));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates a file and replaces one, leaving no temp file", async () => {
    const p = join(dir, "a.txt");
    await writeFileAtomic(p, "one");
    await writeFileAtomic(p, Uint8Array.of(0x74, 0x77, 0x6f));
    assert.equal(await readFile(p, "utf8"), "two");
    assert.deepEqual(await readdir(dir), ["a.txt"]);
  });

  it("keeps the permission bits of the file it replaces", async () => {
    const p = join(dir, "mode.txt");
    await writeFile(p, "x");
    await chmod(p, 0o600);
    await writeFileAtomic(p, "y");
    assert.equal((await stat(p)).mode & 0o777, 0o600);
  });

  it("on failure removes the temp file and leaves the old file untouched", async () => {
    const sub = join(dir, "fail");
    await mkdir(sub);
    const p = join(sub, "keep.txt");
    await writeFile(p, "old");
    // Failing while writing: data of the wrong type.
    await assert.rejects(writeFileAtomic(p, 42 as unknown as string));
    assert.equal(await readFile(p, "utf8"), "old");
    // Failing at the rename: the target is a non-empty directory.
    await mkdir(join(sub, "dir"));
    await writeFile(join(sub, "dir", "x"), "");
    await assert.rejects(writeFileAtomic(join(sub, "dir"), "data"));
    assert.deepEqual((await readdir(sub)).sort(), ["dir", "keep.txt"]);
    // Failing at the start: no such directory.
    await assert.rejects(writeFileAtomic(join(sub, "missing", "f"), "data"), { code: "ENOENT" });
  });

  it("concurrent writers leave one complete version", async () => {
    const p = join(dir, "race.txt");
    const versions = Array.from({ length: 20 }, (_, i) => String(i).repeat(10000));
    await Promise.all(versions.map((v) => writeFileAtomic(p, v)));
    assert.ok(versions.includes(await readFile(p, "utf8")));
    assert.ok(!(await readdir(dir)).some((f) => f.endsWith(".tmp")));
  });
});
