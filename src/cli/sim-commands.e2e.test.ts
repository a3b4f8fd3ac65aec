import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { CPU_MODELS, SIM_GENERATIONS, generationModel } from "../kvm/sim/index.js";
import { cpuInfo, kernelInfo } from "./sim-actions.js";
import type { CpuInfo, KernelInfo } from "./sim-actions.js";
import { guestabi } from "./testing.js";
import type { CliResult } from "./testing.js";

/**
 * The built CLI once main.ts registers the commands; until then the same commands in a process of their
 * own, registered on a commander program the way main.ts does it (registerSimCommands).
 */
const wired = /^ {2}kernels\b/m.test(guestabi(["--help"]).stdout);
const SIM_COMMANDS = fileURLToPath(new URL("./sim-commands.js", import.meta.url));
function cli(args: string[]): CliResult {
  if (wired) return guestabi(args);
  const script = `
    import { Command } from "commander";
    import { registerSimCommands } from ${JSON.stringify(SIM_COMMANDS)};
    const p = new Command("guestabi").exitOverride().configureOutput({ writeErr: () => {}, outputError: () => {} });
    registerSimCommands(p);
    try { await p.parseAsync(process.argv.slice(1), { from: "user" }); }
    catch (e) { process.stderr.write("guestabi: " + e.message.replace(/^error: /, "") + "\\n"); process.exit(2); }`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script, "--", ...args], {
    encoding: "utf8",
    cwd: fileURLToPath(new URL("../../", import.meta.url)),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("guestabi kernels", () => {
  it("lists the generation models with source, caps, PSCI versions and notable rules", () => {
    const r = cli(["kernels"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    assert.match(lines[0]!, /^GENERATION\s+SOURCE\s+CAPS\s+PSCI \(PSCI_0_2\)\s+DEFAULT$/);
    assert.match(r.stdout, /^5\.10\s+linux-source-5\.10 5\.10\.\S+\s+\d+\s+0\.2 1\.0\s+1\.0$/m);
    assert.match(r.stdout, /^6\.1\s+linux-source-6\.1 \S+\s+\d+\s+0\.2 1\.0 1\.1\s+1\.1$/m);
    assert.match(r.stdout, /^7\.2\s+linux-source-7\.2 \S+\s+\d+\s+0\.2 1\.0 1\.1 1\.2 1\.3\s+1\.3$/m);
    assert.match(
      r.stdout,
      /^5\.10-amzn\s+linux-source-5\.10 \S+ \+ Amazon Linux 2's backports \(5\.10\.255-amzn2\)/m,
    );
    assert.match(
      r.stdout,
      /^6\.18\s+linux-source-7\.2 \S+'s tables with 6\.18's rules .*\s+0\.2 1\.0 1\.1 1\.2 1\.3\s+1\.3$/m,
    );
    assert.match(r.stdout, /^next \(synthetic\)\s+synthetic, from 7\.2's tables/m);
    assert.match(r.stdout, /^Notable rules:$/m);
    assert.match(r.stdout, /^ {2}6\.12 +writable ID registers, VM-wide \(set_id_reg/m);
    assert.match(r.stdout, /^ {2}6\.1-amzn +FEAT_CCIDX hidden from the guest/m);
    assert.match(r.stdout, /^ {2}5\.10 {6}ID registers immutable/m); // the notes align on the longest name
  });

  it("prints JSON", () => {
    const r = cli(["kernels", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as KernelInfo[];
    assert.deepEqual(
      out.map((k) => [k.generation, k.synthetic, k.psciDefault]),
      [
        ["5.10", false, "1.0"],
        ["5.10-amzn", false, "1.0"],
        ["6.1", false, "1.1"],
        ["6.1-amzn", false, "1.1"],
        ["6.12", false, "1.1"],
        ["6.18", false, "1.3"],
        ["7.2", false, "1.3"],
        ["next", true, "1.3"],
      ],
    );
    const k72 = out.find((k) => k.generation === "7.2")!;
    assert.equal(k72.capabilities, Object.keys(k72.caps).length);
    assert.equal(k72.caps.ARM_WRITABLE_IMP_ID_REGS, 1);
    assert.deepEqual(
      out.find((k) => k.generation === "next")!.services.map((s) => s.name),
      ["SMCCC", "TRNG", "PV_TIME", "KVM_VENDOR", "WIDGET"],
    );
  });

  it("rejects an unknown option: one line on stderr, exit 2, nothing on stdout", () => {
    const r = cli(["kernels", "--bogus"]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.equal(r.stderr, "guestabi: unknown option '--bogus'\n");
  });
});

describe("guestabi cpus", () => {
  it("lists every CPU model with its MIDR, kind, whether measured, and what it is based on", () => {
    const r = cli(["cpus"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split("\n")[0]!, /^NAME\s+MIDR\s+KIND\s+MEASURED\s+BASED ON$/);
    assert.match(r.stdout, /^cortex-a72\s+0x410fd083\s+qemu\s+yes\s+\S/m);
    assert.match(r.stdout, /^max-impdef\s+0x000f0510\s+qemu\s+no\s+\S/m);
    assert.match(r.stdout, /^neoverse-v2-silicon\s+0x[0-9a-f]{8}\s+silicon\s+no\s+.*TRM/m);
    assert.equal(r.stdout.trimEnd().split("\n").length, 1 + Object.keys(CPU_MODELS).length);
  });

  it("prints JSON", () => {
    const r = cli(["cpus", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as CpuInfo[];
    const a57 = out.find((c) => c.name === "cortex-a57")!;
    assert.equal(a57.midr, "0x411fd070");
    assert.equal(a57.measured, true);
    assert.equal(a57.lab, true);
    // The lab can run max-impdef, but its matrix (and so lab/profiles) leaves it out.
    const impdef = out.find((c) => c.name === "max-impdef")!;
    assert.deepEqual([impdef.lab, impdef.measured], [true, false]);
    assert.ok(out.every((c) => typeof c.basedOn === "string" && c.basedOn.length > 0));
  });
});

describe("kernelInfo / cpuInfo", () => {
  it("describe every model", () => {
    for (const g of SIM_GENERATIONS) {
      const k = kernelInfo(generationModel(g));
      assert.ok(k.capabilities > 20, g);
      assert.ok(k.notable.length > 0, g);
    }
    assert.equal(cpuInfo(CPU_MODELS["max"]!).kind, "qemu");
  });
});
