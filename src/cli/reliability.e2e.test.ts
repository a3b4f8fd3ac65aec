/**
 * Issue 14, as a careless or hostile user meets guestabi: endless inputs, prototype keys, big inputs,
 * output paths that would destroy something, pipes and terminals. Every refusal is one line on stderr
 * (no stack trace), exit code 2, nothing on stdout and no file created or changed; every case ends in
 * seconds because every reader has a bound.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { baseline } from "../check/baseline.js";
import { simProfile } from "../check/testing/sim-profiles.js";
import { serializeProfile } from "../formats/profile.js";
import { formatTemplateJson } from "../formats/template.js";
import { toolVersion } from "../formats/version.js";
import { CLI, guestabi } from "./testing.js";
import type { CliResult } from "./testing.js";

let dir = "";
const f = (name: string) => path.join(dir, name);

/** Every entry of the test directory with its type and content: what "nothing changed" compares. */
function dirState(): Map<string, string> {
  const state = new Map<string, string>();
  for (const name of fs.readdirSync(dir).sort()) {
    const st = fs.lstatSync(f(name));
    // A FIFO's times change as its writer writes: its node is what must stay.
    const what = st.isSymbolicLink()
      ? `-> ${fs.readlinkSync(f(name))} ${st.mtimeMs}`
      : st.isFile()
        ? `${createHash("sha256")
            .update(fs.readFileSync(f(name)))
            .digest("hex")} ${st.mtimeMs}`
        : st.isFIFO()
          ? "fifo"
          : `dir ${st.mtimeMs}`;
    state.set(name, `${what} ${st.mode} ${st.ino}`);
  }
  return state;
}

/** /dev/null as it must stay: a character device, the same node. */
function devNull(): string {
  const st = fs.statSync("/dev/null");
  return `${st.isCharacterDevice()} ${st.rdev} ${st.ino} ${st.mode}`;
}

/** Runs `run`; asserts one line on stderr (equal to `line`, or starting with it when `prefix`), exit 2, no stdout, nothing changed. */
function refused(run: () => CliResult, line: string, prefix = false): void {
  const before = dirState();
  const nullBefore = devNull();
  const r = run();
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^guestabi: [^\n]*\n$/, "one line, no stack trace");
  if (prefix) assert.ok(r.stderr.startsWith(line), r.stderr);
  else assert.equal(r.stderr, line + "\n");
  assert.equal(r.code, 2);
  assert.deepEqual(dirState(), before);
  assert.equal(devNull(), nullBefore);
  assert.deepEqual(
    fs.readdirSync("/dev").filter((n) => n.includes(".guestabi-")),
    [],
  );
}

/** Runs `sh -c SCRIPT` with the CLI as $0 (for pipelines): its stdout, stderr and exit code. */
function shell(script: string): CliResult {
  const r = spawnSync("bash", ["-c", script, CLI], { cwd: dir, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A FIFO in the test dir and a writer that fills it without end (until its reader goes away). */
function endlessFifo(name: string): ChildProcess {
  spawnSync("mkfifo", [f(name)]);
  return spawn("sh", ["-c", `exec cat /dev/zero > "${f(name)}"`], { stdio: "ignore" });
}

describe("issue 14: hostile files, paths, pipes", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-rel-"));
    const p = simProfile("7.2", "neoverse-n1", ["psci-0.2"]);
    fs.writeFileSync(f("p.json"), serializeProfile(p));
    fs.writeFileSync(f("t.json"), formatTemplateJson(baseline([p]).template));
    fs.writeFileSync(
      f("zero-fleet.json"),
      JSON.stringify({
        format: "guestabi-fleet",
        version: 1,
        groups: [{ name: "g", kernel: "7.2", cpu: "neoverse-n1", hosts: 1 }],
        vms: [{ name: "v", group: "g", snapshot: "/dev/zero" }],
      }),
    );
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("1. endless or huge inputs: a bound for every kind of file, naming the limit", () => {
    it("a device as a snapshot, template, profile or fleet", () => {
      refused(
        () => guestabi(["check", "/dev/zero", "--host", f("p.json")]),
        "guestabi: /dev/zero: more than 256 MiB, the limit for a snapshot, ABI template or VMM snapshot",
      );
      refused(
        () => guestabi(["restore", "--snapshot", "/dev/zero", "--sim", "7.2"]),
        "guestabi: /dev/zero: more than 256 MiB, the limit for a snapshot",
      );
      refused(
        () => guestabi(["export-firecracker", "/dev/zero"]),
        "guestabi: /dev/zero: more than 32 MiB, the limit for an ABI template",
      );
      refused(
        () => guestabi(["check", f("t.json"), "--host", "/dev/zero"]),
        "guestabi: /dev/zero: more than 16 MiB, the limit for a host profile",
      );
      refused(
        () => guestabi(["plan", "--fleet", "/dev/zero"]),
        "guestabi: /dev/zero: more than 16 MiB, the limit for a fleet",
      );
    });

    it("a fleet naming /dev/zero as a VM's snapshot", () => {
      refused(
        () => guestabi(["plan", "--fleet", f("zero-fleet.json")]),
        `guestabi: ${f("zero-fleet.json")}: VM 'v': /dev/zero: more than 256 MiB, the limit for a snapshot`,
      );
    });

    it("stdin: /dev/zero, and an endless pipe of valid ids", () => {
      const zero = fs.openSync("/dev/zero", "r");
      try {
        refused(
          () => guestabi(["decode"], { fd: zero }),
          "guestabi: stdin: more than 32 MiB, the limit for register ids",
        );
      } finally {
        fs.closeSync(zero);
      }
      refused(
        () => shell('yes 0x603000000013c020 | node "$0" decode'),
        "guestabi: stdin: more than 32 MiB, the limit for register ids",
      );
    });

    it("a FIFO whose writer never stops", () => {
      const writer = endlessFifo("endless");
      try {
        refused(
          () => guestabi(["check", f("endless"), "--host", f("p.json")]),
          `guestabi: ${f("endless")}: more than 256 MiB, the limit for a snapshot, ABI template or VMM snapshot`,
        );
      } finally {
        writer.kill();
        fs.rmSync(f("endless"));
      }
    });

    it("a file one byte over its limit, and a directory", () => {
      fs.writeFileSync(f("big-fleet.json"), " ".repeat((16 << 20) + 1));
      try {
        refused(
          () => guestabi(["plan", "--fleet", f("big-fleet.json")]),
          `guestabi: ${f("big-fleet.json")}: more than 16 MiB, the limit for a fleet`,
        );
      } finally {
        fs.rmSync(f("big-fleet.json"));
      }
      refused(() => guestabi(["check", dir, "--host", f("p.json")]), `guestabi: cannot read ${dir}: EISDIR`);
    });
  });

  describe("2. prototype keys are not CPU models, kernels or groups", () => {
    const KNOWN_CPUS =
      "cortex-a57, cortex-a72, cortex-a76, neoverse-n1, a64fx, max, max-impdef, neoverse-n1-silicon, neoverse-v1-silicon, neoverse-v2-silicon";
    it("--sim 7.2/toString, __proto__, constructor, hasOwnProperty in save, restore, probe, pin, migrate", () => {
      const line = (key: string) => `guestabi: unknown CPU model '${key}' in --sim (known: ${KNOWN_CPUS})`;
      refused(() => guestabi(["save", "--sim", "7.2/toString", "--out", f("s.bin")]), line("toString"));
      refused(
        () => guestabi(["restore", "--snapshot", f("p.json"), "--sim", "7.2/__proto__"]),
        line("__proto__"),
      );
      refused(
        () => guestabi(["probe", "--sim", "7.2/constructor", "--out", f("probe.json")]),
        line("constructor"),
      );
      refused(
        () => guestabi(["pin", "--template", f("t.json"), "--sim", "7.2/hasOwnProperty"]),
        line("hasOwnProperty"),
      );
      refused(() => guestabi(["migrate", "--from", "7.2", "--to", "6.1/toString"]), line("toString"));
    });

    it("as a kernel, a register class, a feature, a configuration, a group", () => {
      refused(
        () => guestabi(["save", "--sim", "constructor", "--out", f("s.bin")]),
        "guestabi: unknown kernel 'constructor' in --sim (known: 5.10, 5.10-amzn, 6.1, 6.1-amzn, 6.12, 6.18, 7.2, next)",
      );
      refused(
        () => guestabi(["fields", "ID_AA64PFR0_EL1", "0", "--kernel", "__proto__"]),
        "guestabi: unknown kernel generation '__proto__' (known: 5.10, 6.1, 6.12, 7.2)",
      );
      refused(
        () => guestabi(["regs", "--class", "toString"]),
        "guestabi: unknown register class 'toString' (known: core, demux, sysreg, fw, fwBitmap, sve, unknown)",
      );
      refused(
        () => guestabi(["save", "--sim", "7.2", "--out", f("s.bin"), "--features", "hasOwnProperty"]),
        "guestabi: unknown vCPU feature 'hasOwnProperty' (known: POWER_OFF, EL1_32BIT, PSCI_0_2, PMU_V3, SVE, PTRAUTH_ADDRESS, PTRAUTH_GENERIC, HAS_EL2, HAS_EL2_E2H0)",
      );
      refused(
        () => guestabi(["probe", "--sim", "7.2", "--configs", "constructor"]),
        "guestabi: unknown configuration 'constructor' (known: psci-0.2, psci-0.2+pmu, psci-0.2+sve, psci-0.2+ptrauth, psci-0.1)",
      );
      refused(() => guestabi(["encode", "__proto__"]), "guestabi: unknown register name: '__proto__'");
    });

    it("groups and VMs named constructor, toString, hasOwnProperty are ordinary names", () => {
      fs.writeFileSync(
        f("proto-fleet.json"),
        JSON.stringify({
          format: "guestabi-fleet",
          version: 1,
          groups: [
            { name: "constructor", kernel: "7.2", cpu: "neoverse-n1", hosts: 1 },
            { name: "toString", kernel: "6.12", cpu: "neoverse-n1", hosts: 1 },
          ],
          vms: [{ name: "hasOwnProperty", group: "constructor", abi: "host-defaults" }],
        }),
      );
      const r = guestabi([
        "impact",
        "--fleet",
        f("proto-fleet.json"),
        "--rollback",
        "constructor",
        "--to",
        "6.12",
      ]);
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      assert.match(r.stdout, /\n {2}hasOwnProperty {2}1 +breaks +host-defaults +guestabi +/);
      refused(
        () => guestabi(["impact", "--fleet", f("proto-fleet.json"), "--rollback", "valueOf", "--to", "6.12"]),
        `guestabi: no group 'valueOf' in fleet ${f("proto-fleet.json")} (groups: constructor, toString)`,
      );
      fs.rmSync(f("proto-fleet.json"));
    });
  });

  describe("3. valid big inputs", () => {
    it("decode: 200,000 ids on stdin, as a table and as JSON", () => {
      fs.writeFileSync(f("ids.txt"), "0x603000000013c020\n".repeat(200_000));
      const ids = fs.openSync(f("ids.txt"), "r");
      const idsAgain = fs.openSync(f("ids.txt"), "r");
      try {
        const r = guestabi(["decode"], { fd: ids });
        assert.equal(r.stderr, "");
        assert.equal(r.code, 0);
        const lines = r.stdout.split("\n");
        assert.equal(lines.length, 200_002); // the header, 200,000 rows, "" after the last newline
        assert.equal(lines[0], "ID                  NAME             CLASS   SIZE  FIELDS");
        assert.equal(
          lines[200_000],
          "0x603000000013c020  ID_AA64PFR0_EL1  sysreg  U64   op0=3 op1=0 crn=0 crm=4 op2=0",
        );
        const j = guestabi(["decode", "--json"], { fd: idsAgain });
        assert.equal(j.code, 0);
        assert.equal((JSON.parse(j.stdout) as unknown[]).length, 200_000);
      } finally {
        fs.closeSync(ids);
        fs.closeSync(idsAgain);
        fs.rmSync(f("ids.txt"));
      }
    });
  });

  describe("4. output paths", () => {
    it("--out onto /dev/null is refused, /dev/null untouched, in every command that writes", () => {
      const line = "guestabi: cannot write /dev/null: it is a character device, not a regular file";
      refused(() => guestabi(["export-firecracker", f("t.json"), "--out", "/dev/null"]), line);
      refused(() => guestabi(["baseline", f("p.json"), "--out", "/dev/null"]), line);
      refused(() => guestabi(["save", "--sim", "7.2", "--out", "/dev/null"]), line);
      refused(() => guestabi(["probe", "--sim", "7.2", "--out", "/dev/null"]), line);
      refused(
        () => guestabi(["restore-trial", "--sim", "7.2", "--from", f("p.json"), "--out", "/dev/null"]),
        line,
      );
    });

    it("--out onto a FIFO, a directory, a symlink to a device", () => {
      spawnSync("mkfifo", [f("fifo")]);
      fs.mkdirSync(f("subdir"));
      fs.symlinkSync("/dev/null", f("null-link"));
      try {
        refused(
          () => guestabi(["baseline", f("p.json"), "--out", f("fifo")]),
          `guestabi: cannot write ${f("fifo")}: it is a FIFO, not a regular file`,
        );
        refused(
          () => guestabi(["save", "--sim", "7.2", "--out", f("subdir")]),
          `guestabi: cannot write ${f("subdir")}: it is a directory, not a regular file`,
        );
        refused(
          () => guestabi(["export-firecracker", f("t.json"), "--out", f("null-link")]),
          `guestabi: cannot write ${f("null-link")}: it is a character device, not a regular file`,
        );
      } finally {
        for (const n of ["fifo", "subdir", "null-link"]) fs.rmSync(f(n), { recursive: true });
      }
    });

    it("--out onto an input: the same path, a hard link, a symlink", () => {
      fs.linkSync(f("p.json"), f("p-hard.json"));
      fs.symlinkSync("t.json", f("t-link.json"));
      try {
        refused(
          () => guestabi(["baseline", f("p.json"), "--out", f("p.json")]),
          `guestabi: cannot write ${f("p.json")}: it is the input ${f("p.json")}, refusing to replace it`,
        );
        refused(
          () => guestabi(["baseline", f("p.json"), "--out", f("p-hard.json")]),
          `guestabi: cannot write ${f("p-hard.json")}: it is the input ${f("p.json")}, refusing to replace it`,
        );
        refused(
          () => guestabi(["export-firecracker", f("t.json"), "--out", f("t-link.json")]),
          `guestabi: cannot write ${f("t-link.json")}: it is the input ${f("t.json")}, refusing to replace it`,
        );
        refused(
          () => guestabi(["save", "--sim", "7.2", "--template", f("t.json"), "--out", f("t.json")]),
          `guestabi: cannot write ${f("t.json")}: it is the input ${f("t.json")}, refusing to replace it`,
        );
        refused(
          () => guestabi(["restore-trial", "--sim", "7.2", "--from", f("p.json"), "--out", f("p.json")]),
          `guestabi: cannot write ${f("p.json")}: it is the input ${f("p.json")}, refusing to replace it`,
        );
      } finally {
        fs.rmSync(f("p-hard.json"));
        fs.rmSync(f("t-link.json"));
      }
    });

    it("a legal 249-character file name is written, and no temporary file is left", () => {
      const name = "b".repeat(245) + ".json";
      const r = guestabi(["baseline", f("p.json"), "--out", f(name)]);
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
      assert.equal(JSON.parse(fs.readFileSync(f(name), "utf8")).format, "guestabi-abi-template");
      assert.deepEqual(fs.readdirSync(dir).sort(), [name, "p.json", "t.json", "zero-fleet.json"].sort());
      fs.rmSync(f(name));
    });

    it("'-' is stdout in save, baseline, export-firecracker (as in probe, restore-trial); with --json it is refused", () => {
      const save = guestabi(["save", "--sim", "7.2", "--out", "-", "--format", "json"]);
      assert.equal(save.code, 0);
      assert.equal(JSON.parse(save.stdout).format, "guestabi-snapshot");
      assert.equal(
        save.stderr,
        "guestabi: saved 1 vCPU(s), 257 registers, from sim 7.2/neoverse-n1 to stdout (json)\n",
      );
      const base = guestabi(["baseline", f("p.json"), "--out", "-"]);
      assert.equal(base.code, 0);
      assert.equal(JSON.parse(base.stdout).format, "guestabi-abi-template");
      assert.match(base.stderr, /^guestabi: baseline of 1 host: .*; written to stdout\n$/);
      const fc = guestabi(["export-firecracker", f("t.json"), "--out", "-", "--quiet"]);
      assert.equal(fc.code, 0);
      assert.deepEqual(
        JSON.parse(fc.stdout),
        JSON.parse(guestabi(["export-firecracker", f("t.json"), "--quiet"]).stdout),
      );
      for (const args of [
        ["save", "--sim", "7.2", "--out", "-", "--json"],
        ["baseline", f("p.json"), "--out", "-", "--json"],
      ])
        refused(() => guestabi(args), "guestabi: --json and --out - would both print to stdout: choose one");
      assert.ok(!fs.existsSync("-") && !fs.existsSync(f("-")));
    });
  });

  describe("6. pipes and terminals", () => {
    it("a reader that goes away: exit quietly (regs | head -1, decode of 200,000 ids | head -1)", () => {
      const regs = shell('node "$0" regs 2>err.txt | head -1; echo "exit ${PIPESTATUS[0]}"; cat err.txt');
      assert.equal(
        regs.stdout,
        "ID                  NAME                                 CLASS     SIZE\nexit 0\n",
      );
      const many = shell(
        'yes 0x603000000013c020 | head -200000 | node "$0" decode 2>err.txt | head -1; echo "exit ${PIPESTATUS[2]}"; cat err.txt',
      );
      assert.equal(many.stdout, "ID                  NAME             CLASS   SIZE  FIELDS\nexit 0\n");
      fs.rmSync(f("err.txt"));
    });

    it("--version", () => {
      assert.deepEqual(guestabi(["--version"]), { code: 0, stdout: toolVersion() + "\n", stderr: "" });
    });

    it("export-firecracker takes --json (its output is JSON either way)", () => {
      const plain = guestabi(["export-firecracker", f("t.json"), "--quiet"]);
      const json = guestabi(["export-firecracker", f("t.json"), "--quiet", "--json"]);
      assert.equal(json.code, 0);
      assert.equal(json.stderr, "");
      assert.equal(json.stdout, plain.stdout);
    });

    it("--features shows a default the option takes", () => {
      const help = guestabi(["save", "--help"]);
      assert.match(help.stdout, /--features <list> +vCPU features of an unpinned VM \(default: PSCI_0_2\)\n/);
      const r = guestabi([
        "save",
        "--sim",
        "7.2",
        "--out",
        "-",
        "--format",
        "json",
        "--features",
        "PSCI_0_2",
      ]);
      assert.equal(r.code, 0);
    });

    it("commander's 'did you mean' stays on the one line; unknown registers get the nearest names", () => {
      refused(() => guestabi(["decod"]), "guestabi: unknown command 'decod' (Did you mean decode?)");
      refused(() => guestabi(["regs", "--jsn"]), "guestabi: unknown option '--jsn' (Did you mean --json?)");
      refused(
        () => guestabi(["encode", "ID_AA64PFR0"]),
        "guestabi: unknown register name: 'ID_AA64PFR0' (did you mean ID_AA64PFR0_EL1?)",
      );
      refused(
        () => guestabi(["fields", "id_aa64mmfr1_el", "0"]),
        "guestabi: unknown register name: 'id_aa64mmfr1_el' (did you mean ID_AA64MMFR1_EL1?)",
      );
      refused(() => guestabi(["encode", "nonsense"]), "guestabi: unknown register name: 'nonsense'");
    });
  });
});
