/**
 * Every command's help, byte for byte as committed in testdata/help.txt (testing.ts's helpTranscript
 * says how to regenerate it): the commands register eagerly but load their code only when they run,
 * and the help lists every command and option all the same.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { guestabi, helpTranscript } from "./testing.js";

const COMMITTED = new URL("../../src/cli/testdata/help.txt", import.meta.url);

describe("guestabi --help and COMMAND... --help", () => {
  it("print the committed help of every command and subcommand", () => {
    assert.equal(helpTranscript(), fs.readFileSync(COMMITTED, "utf8"));
  });

  it("exit 0 with nothing on stderr, for the root and for every command", () => {
    const commands = [...fs.readFileSync(COMMITTED, "utf8").matchAll(/^\$ guestabi (.*)$/gm)];
    assert.ok(commands.length > 30, `${commands.length} help texts`);
    for (const [, line] of commands) {
      const r = guestabi(line!.split(" "));
      assert.equal(r.code, 0, line);
      assert.equal(r.stderr, "", line);
      assert.match(r.stdout, /^Usage: guestabi /, line);
    }
  });
});
