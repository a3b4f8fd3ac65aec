import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { watch } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
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
    // Refused before anything is created: the target is a non-empty directory.
    await mkdir(join(sub, "dir"));
    await writeFile(join(sub, "dir", "x"), "");
    await assert.rejects(writeFileAtomic(join(sub, "dir"), "data"));
    assert.deepEqual((await readdir(sub)).sort(), ["dir", "keep.txt"]);
    // Failing at the start: no such directory.
    await assert.rejects(writeFileAtomic(join(sub, "missing", "f"), "data"), { code: "ENOENT" });
  });

  it("refuses a target that is not a regular file, or a symlink to one, and leaves it as it was", async () => {
    const fifo = join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    await symlink("/dev/null", join(dir, "null-link"));
    const before = await readdir(dir);
    await assert.rejects(writeFileAtomic("/dev/null", "x"), {
      name: "OutputTargetError",
      message: "it is a character device, not a regular file",
    });
    await assert.rejects(writeFileAtomic(fifo, "x"), { message: "it is a FIFO, not a regular file" });
    await assert.rejects(writeFileAtomic(join(dir, "null-link"), "x"), {
      message: "it is a character device, not a regular file",
    });
    assert.ok((await stat("/dev/null")).isCharacterDevice());
    assert.ok((await lstat(fifo)).isFIFO());
    assert.deepEqual(await readdir(dir), before);
    await rm(fifo);
    await rm(join(dir, "null-link"));
  });

  it("a symlink to a regular file is replaced by the file; the file it led to is kept", async () => {
    await writeFile(join(dir, "target.txt"), "old");
    await symlink("target.txt", join(dir, "link.txt"));
    await writeFileAtomic(join(dir, "link.txt"), "new");
    assert.equal(await readFile(join(dir, "target.txt"), "utf8"), "old");
    assert.ok((await lstat(join(dir, "link.txt"))).isFile());
    assert.equal(await readFile(join(dir, "link.txt"), "utf8"), "new");
    await rm(join(dir, "target.txt"));
    await rm(join(dir, "link.txt"));
  });

  it("names of up to NAME_MAX bytes (255) work: the temporary name is cut to fit", async () => {
    const sub = join(dir, "long");
    await mkdir(sub);
    for (const name of ["a".repeat(249), "b".repeat(255), "é".repeat(127)]) {
      await writeFileAtomic(join(sub, name), name);
      assert.equal(await readFile(join(sub, name), "utf8"), name);
    }
    assert.deepEqual((await readdir(sub)).sort(), ["a".repeat(249), "b".repeat(255), "é".repeat(127)].sort());
  });

  it("a writer killed before its rename leaves the target and a temp file the README's rm removes", async () => {
    const sub = join(dir, "killed");
    await mkdir(sub);
    const target = join(sub, "target.txt");
    await writeFile(target, "old");
    const module = new URL("./atomic-write.js", import.meta.url).href;
    const script = `import(${JSON.stringify(module)}).then((m) => m.writeFileAtomic(${JSON.stringify(target)}, Buffer.alloc(64 << 20, 1)))`;
    // Kill the writer as soon as its temp file appears (inotify); a writer that won the race is retried.
    let pid: number | undefined;
    for (let attempt = 0; attempt < 10 && pid === undefined; attempt++) {
      await writeFile(target, "old");
      const child = spawn(process.execPath, ["-e", script], { stdio: "ignore" });
      const watcher = watch(sub, () => child.kill("SIGKILL"));
      const exit = await new Promise<NodeJS.Signals | null>((resolve) =>
        child.on("exit", (_c, sig) => resolve(sig)),
      );
      watcher.close();
      if (exit === "SIGKILL" && (await readdir(sub)).length === 2) pid = child.pid;
    }
    assert.ok(pid !== undefined, "no attempt was killed before its rename");
    const left = (await readdir(sub)).filter((n) => n !== "target.txt");
    assert.equal(left.length, 1);
    assert.match(left[0]!, new RegExp(`^\\.target\\.txt\\.guestabi-${pid}-[0-9a-f]{12}\\.tmp$`));
    assert.equal(await readFile(target, "utf8"), "old");
    spawnSync("sh", ["-c", `rm "${sub}"/.*.guestabi-*.tmp`]);
    assert.deepEqual(await readdir(sub), ["target.txt"]);
  });

  it("concurrent writers leave one complete version", async () => {
    const p = join(dir, "race.txt");
    const versions = Array.from({ length: 20 }, (_, i) => String(i).repeat(10000));
    await Promise.all(versions.map((v) => writeFileAtomic(p, v)));
    assert.ok(versions.includes(await readFile(p, "utf8")));
    assert.ok(!(await readdir(dir)).some((f) => f.endsWith(".tmp")));
  });
});
