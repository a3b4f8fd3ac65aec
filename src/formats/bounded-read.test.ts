import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { InputTooLargeError, byteText, readBounded } from "./bounded-read.js";

describe("readBounded", () => {
  let dir = "";
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-bounded-"));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("reads a regular file of exactly the limit, and refuses one byte more", async () => {
    const p = path.join(dir, "f");
    fs.writeFileSync(p, "x".repeat(3_000_000));
    assert.equal((await readBounded(p, 3_000_000, "a test file")).length, 3_000_000);
    await assert.rejects(readBounded(p, 2_999_999, "a test file"), (e: unknown) => {
      assert.ok(e instanceof InputTooLargeError);
      assert.equal(e.message, `${p}: more than 2999999 bytes, the limit for a test file`);
      return true;
    });
  });

  it("a device that never ends: refused at the limit", async () => {
    await assert.rejects(readBounded("/dev/zero", 1 << 20, "a profile"), {
      message: "/dev/zero: more than 1 MiB, the limit for a profile",
    });
    assert.equal((await readBounded("/dev/null", 1, "anything")).length, 0);
  });

  it("a FIFO: its writer's bytes up to the limit, an endless writer refused", async () => {
    const fifo = path.join(dir, "fifo");
    spawnSync("mkfifo", [fifo]);
    const short = spawn("sh", ["-c", `printf 'hello' > "${fifo}"`]);
    const exited = new Promise((resolve) => short.on("exit", resolve));
    assert.equal((await readBounded(fifo, 5, "a greeting")).toString(), "hello");
    await exited;
    const endless = spawn("sh", ["-c", `exec cat /dev/zero > "${fifo}"`]);
    try {
      await assert.rejects(readBounded(fifo, 4 << 20, "a snapshot"), {
        message: `${fifo}: more than 4 MiB, the limit for a snapshot`,
      });
    } finally {
      endless.kill();
    }
  });

  it("file-system errors keep their code and path", async () => {
    await assert.rejects(readBounded(path.join(dir, "none"), 10, "x"), { code: "ENOENT" });
    await assert.rejects(readBounded(dir, 10, "x"), { code: "EISDIR" });
  });

  it("byteText names whole units", () => {
    assert.equal(byteText(256 << 20), "256 MiB");
    assert.equal(byteText(1 << 30), "1 GiB");
    assert.equal(byteText(4096), "4 KiB");
    assert.equal(byteText(1000), "1000 bytes");
    assert.equal(byteText((1 << 20) + 1), "1048577 bytes");
  });
});
