/**
 * What the built CLI loads: start-up and --help only the commands' registration (no command's code, no
 * zod, no simulator, no register catalog), a command its own code, and the catalog's field layouts and
 * policies only when a command looks at a value. npm run bench times it (bench/startup.bench.ts).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { describe, it } from "node:test";
import { CLI } from "./testing.js";

const DIST = fileURLToPath(new URL("../", import.meta.url));

/** A module-loading hook and a readFileSync spy that append what they see to $GUESTABI_LOAD_LOG. */
function spies(): { register: string; reads: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-startup-"));
  const hooks = path.join(dir, "hooks.mjs");
  fs.writeFileSync(
    hooks,
    `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(process.env.GUESTABI_LOAD_LOG, "load " + url + "\\n");
  return next(url, context);
}
`,
  );
  const register = path.join(dir, "register.mjs");
  fs.writeFileSync(
    register,
    `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  const reads = path.join(dir, "reads.cjs");
  fs.writeFileSync(
    reads,
    `const fs = require("node:fs");
const readFileSync = fs.readFileSync;
fs.readFileSync = function (file, ...rest) {
  fs.appendFileSync(process.env.GUESTABI_LOAD_LOG, "read " + String(file) + "\\n");
  return readFileSync.call(this, file, ...rest);
};
`,
  );
  return { register, reads };
}

const { register, reads } = spies();

/** Runs guestabi ARGS: its exit code, the modules it loaded and the files of dist/ it read. */
function traced(args: string[]): { code: number | null; loaded: string[]; read: string[] } {
  const log = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-startup-")), "log");
  fs.writeFileSync(log, "");
  const r = spawnSync(process.execPath, ["-r", reads, "--import", register, CLI, ...args], {
    encoding: "utf8",
    env: { ...process.env, GUESTABI_LOAD_LOG: log },
  });
  const lines = fs.readFileSync(log, "utf8").split("\n");
  const logged = (what: string) =>
    lines
      .filter((l) => l.startsWith(what + " "))
      .map((l) => l.slice(what.length + 1).replace(/^file:\/\//, ""));
  // Modules of guestabi and of its dependencies (imported as ESM); the files guestabi reads itself.
  const loaded = logged("load")
    .filter((f) => f.startsWith(DIST) || f.includes("/node_modules/"))
    .map((f) =>
      f.startsWith(DIST) ? f.slice(DIST.length) : f.replace(/.*\/node_modules\//, "node_modules/"),
    );
  const read = logged("read")
    .filter((f) => f.startsWith(DIST))
    .map((f) => f.slice(DIST.length));
  return { code: r.status, loaded, read };
}

/** The registration modules main.ts imports: all of the command line that start-up loads. */
const REGISTRATION = [
  "cli/abi-commands.js",
  "cli/export-commands.js",
  "cli/fleet-commands.js",
  "cli/import-commands.js",
  "cli/inventory-commands.js",
  "cli/main.js",
  "cli/probe-commands.js",
  "cli/regs-commands.js",
  "cli/report-command.js",
  "cli/run-command.js",
  "cli/serve-command.js",
  "cli/shared-options.js",
  "cli/sim-commands.js",
  "cli/vm-commands.js",
];

describe("what guestabi loads", () => {
  it("--help: the registrations and the seven small modules their help text names, nothing else", () => {
    const r = traced(["--help"]);
    assert.equal(r.code, 0);
    assert.deepEqual(r.loaded.sort(), [
      ...REGISTRATION,
      "formats/version.js",
      "inventory/spec.js",
      "probe/vcpu-configs.js",
      "regs/catalog-types.js",
      "regs/id.js",
      "serve/defaults.js",
      "vmm/vmm-names.js",
    ]);
    assert.deepEqual(r.read, []);
  });

  it("COMMAND --help: at most the option parsers besides, not the command's code or the VMMs' tables", () => {
    for (const args of [["inventory"], ["inventory", "vms", "add"], ["check"], ["impact"], ["serve"]]) {
      const r = traced([...args, "--help"]);
      assert.equal(r.code, 0, args.join(" "));
      const more = r.loaded.filter((f) => !REGISTRATION.includes(f) && f.startsWith("cli/"));
      assert.deepEqual(
        more,
        args.length === 1 && args[0] === "inventory" ? [] : ["cli/options.js"],
        args.join(" "),
      );
      assert.deepEqual(
        r.loaded.filter((f) =>
          /node_modules|vmm\/policies|fleet\/analysis|inventory\/store|serve\/server/.test(f),
        ),
        [],
        args.join(" "),
      );
    }
  });

  it("decode ID: its own code and the register names, not the field layouts or policies", () => {
    const r = traced(["decode", "0x603000000013df19"]);
    assert.equal(r.code, 0);
    const commandLine = r.loaded.filter((f) => f.startsWith("cli/") && !REGISTRATION.includes(f));
    assert.deepEqual(commandLine.sort(), ["cli/output.js", "cli/regs-actions.js"]);
    assert.ok(r.loaded.includes("regs/catalog.js"));
    assert.deepEqual(
      r.loaded.filter((f) => /node_modules|kvm\/|formats\/(profile|schema)/.test(f)),
      [],
    );
    assert.deepEqual(r.read.sort(), [
      "regs/generated/fw-regs.json",
      "regs/generated/kvm-timer-names.json",
      "regs/generated/sysregs.json",
    ]);
  });

  it("fields REGISTER VALUE: the field layouts and policies too", () => {
    const r = traced(["fields", "ID_AA64PFR0_EL1", "0x11"]);
    assert.equal(r.code, 0);
    assert.ok(r.read.includes("regs/generated/sysreg-fields.json"));
    assert.ok(r.read.includes("regs/generated/ftr-policy.json"));
  });

  it("loads the option parsers (options.ts) only for a command that has a parsed option", () => {
    assert.equal(traced(["kernels"]).loaded.includes("cli/options.js"), false);
    const save = traced(["save", "--sim", "7.2/no-such-cpu", "--out", "x"]);
    assert.equal(save.code, 2);
    assert.ok(save.loaded.includes("cli/options.js"));
    assert.equal(save.loaded.includes("cli/vm-actions.js"), false);
  });
});
