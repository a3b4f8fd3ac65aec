import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FW_REGS, VCPU_FEATURES } from "../kvm/uapi.js";
import { sysregId } from "../regs/id.js";
import type { AbiTemplate } from "./template.js";
import {
  TemplateFormatError,
  formatTemplateJson,
  parseTemplateJson,
  readTemplateFile,
  templateFields,
  templateJsonSchema,
  validateTemplate,
  writeTemplateFile,
} from "./template.js";
import { templateArb } from "./testing/snapshot-arbitraries.js";

const PFR0 = sysregId(3, 0, 0, 4, 0);
const MIDR = sysregId(3, 0, 0, 0, 0);

function example(): AbiTemplate {
  return {
    name: "fleet-2024",
    idRegs: new Map([
      [PFR0, 0x1101001021110222n],
      [MIDR, 0x410fd0c1n],
    ]),
    firmware: new Map([
      [FW_REGS.PSCI_VERSION, 0x10001n],
      [FW_REGS.STD_HYP_BMAP, 1n],
    ]),
    features: [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3],
    regs: new Set([PFR0, MIDR, FW_REGS.PSCI_VERSION, FW_REGS.STD_HYP_BMAP, 0x6030000000100000n]),
    provenance: {
      derivedFrom: [{ release: "6.1.0-31-arm64", generation: "6.1", cpuLabel: "Neoverse-N1" }],
      note: "n",
    },
  };
}

function throwsTemplate(fn: () => unknown, code: TemplateFormatError["code"], part?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof TemplateFormatError, String(e));
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes("\n"));
    if (part) assert.match(e.message, part);
    return true;
  });
}

const SCHEMA_FILE = new URL("../../schema/abi-template.schema.json", import.meta.url);

describe("ABI template", () => {
  it("the committed schema/abi-template.schema.json is the generated one", async () => {
    const generated = templateJsonSchema();
    if (process.env.UPDATE_SCHEMAS) {
      // UPDATE_SCHEMAS=1 node --test dist/formats/template.test.js regenerates it, formatted as schemas.ts does.
      const prettier = await import("prettier");
      writeFileSync(
        SCHEMA_FILE,
        await prettier.format(JSON.stringify(generated), { parser: "json", printWidth: 110 }),
      );
    }
    const committed: unknown = JSON.parse(readFileSync(SCHEMA_FILE, "utf8"));
    assert.deepEqual(
      committed,
      generated,
      "schema/abi-template.schema.json is stale: rerun this test with UPDATE_SCHEMAS=1",
    );
  });

  it("writes readable JSON: feature names, register names, sorted padded hex", () => {
    const j = JSON.parse(formatTemplateJson(example()));
    assert.deepEqual(j.features, ["PSCI_0_2", "PMU_V3"]);
    assert.deepEqual(j.idRegs, [
      { id: "0x603000000013c000", name: "MIDR_EL1", value: "0x410fd0c1" },
      { id: "0x603000000013c020", name: "ID_AA64PFR0_EL1", value: "0x1101001021110222" },
    ]);
    assert.equal(j.firmware[0].name, "KVM_REG_ARM_PSCI_VERSION");
    assert.deepEqual(j.regs, [...j.regs].sort());
    assert.deepStrictEqual(parseTemplateJson(formatTemplateJson(example())), example());
  });

  it("round-trips any template exactly", () => {
    fc.assert(
      fc.property(templateArb, (t) => {
        assert.deepStrictEqual(parseTemplateJson(formatTemplateJson(t)), t);
      }),
      { numRuns: 300 },
    );
  });

  it("derives the fields of its values through src/regs", () => {
    const f = templateFields(example(), "7.2").find((x) => x.name === "ID_AA64PFR0_EL1")!;
    assert.equal(f.fields!.find((x) => x.name === "CSV3")!.value, 1n);
    const psci = templateFields(example(), "7.2").find((x) => x.name === "KVM_REG_ARM_PSCI_VERSION")!;
    assert.deepEqual(
      psci.fields!.slice(0, 2).map((x) => x.value),
      [1n, 1n],
    );
  });

  it("rejects bad templates with one-line errors", () => {
    const base = () => JSON.parse(formatTemplateJson(example()));
    const edit = (f: (j: ReturnType<typeof base>) => void): string => {
      const j = base();
      f(j);
      return JSON.stringify(j);
    };
    throwsTemplate(() => parseTemplateJson("{\n"), "syntax");
    throwsTemplate(() => parseTemplateJson(edit((j) => (j.format = "guestabi-snapshot"))), "magic");
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.version = { major: 3, minor: 0 }))),
      "version",
      /3\.0/,
    );
    assert.ok(parseTemplateJson(edit((j) => (j.version = { major: 1, minor: 9 }))));
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.features = ["WARP_DRIVE"]))),
      "invalid",
      /unknown vCPU feature 'WARP_DRIVE'/,
    );
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.features = ["PSCI_0_2", "bit2"]))),
      "invalid",
      /twice/,
    );
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.idRegs[0].id = "0x6030000000100000"))),
      "invalid",
      /not a U64 system register/,
    );
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.idRegs[0].id = "0x603000000013c080"))),
      "invalid",
      /feature ID register range/,
    );
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.firmware[0].id = "0x603000000013c020"))),
      "invalid",
      /firmware/,
    );
    throwsTemplate(
      () => parseTemplateJson(edit((j) => j.idRegs.push(j.idRegs[0]))),
      "invalid",
      /duplicate register/,
    );
    throwsTemplate(
      () =>
        parseTemplateJson(edit((j) => (j.regs = j.regs.filter((x: string) => x !== "0x603000000013c020")))),
      "invalid",
      /not among the template's regs/,
    );
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.sveVqs = [1]))),
      "invalid",
      /without the SVE feature/,
    );
    throwsTemplate(
      () => parseTemplateJson(edit((j) => (j.provenance.derivedFrom[0].generation = "six"))),
      "schema",
      /generation/,
    );
    const t = example();
    t.idRegs.set(PFR0, -1n);
    throwsTemplate(() => validateTemplate(t), "invalid", /not a u64/);
  });

  it("writes and reads the machine section: IIDR revisions, PMU counters, counter offset, SMCCC filter", () => {
    const t: AbiTemplate = {
      ...example(),
      machine: {
        gicdIidrRevision: 2,
        itsAbi: 0,
        pmuCounters: 6,
        counterOffset: 0xffff_ffff_0000_0001n,
        smcccFilter: [
          { base: 0x84000000, nrFunctions: 1, action: "DENY" },
          { base: 0xc6000000, nrFunctions: 0x10000, action: "FWD_TO_USER" },
        ],
      },
    };
    const j = JSON.parse(formatTemplateJson(t));
    assert.deepEqual(j.machine, {
      gicdIidrRevision: 2,
      itsAbi: 0,
      pmuCounters: 6,
      counterOffset: "0xffffffff00000001",
      smcccFilter: [
        { base: "0x84000000", nrFunctions: 1, action: "DENY" },
        { base: "0xc6000000", nrFunctions: 65536, action: "FWD_TO_USER" },
      ],
    });
    assert.deepStrictEqual(parseTemplateJson(formatTemplateJson(t)), t);
    // A template without the section has none after the round trip (older templates read unchanged).
    assert.equal(parseTemplateJson(formatTemplateJson(example())).machine, undefined);
  });

  it("rejects bad machine sections with one-line errors", () => {
    const withMachine = (machine: unknown): string =>
      JSON.stringify({ ...JSON.parse(formatTemplateJson(example())), machine });
    throwsTemplate(
      () => parseTemplateJson(withMachine({ gicdIidrRevision: 16 })),
      "schema",
      /gicdIidrRevision/,
    );
    throwsTemplate(() => parseTemplateJson(withMachine({ pmuCounters: 32 })), "schema", /pmuCounters/);
    throwsTemplate(
      () =>
        parseTemplateJson(withMachine({ smcccFilter: [{ base: "0x1", nrFunctions: 1, action: "ALLOW" }] })),
      "schema",
      /action/,
    );
    throwsTemplate(
      () =>
        parseTemplateJson(
          withMachine({
            smcccFilter: [
              { base: "0x84000000", nrFunctions: 16, action: "DENY" },
              { base: "0x8400000f", nrFunctions: 1, action: "HANDLE" },
            ],
          }),
        ),
      "invalid",
      /machine: smcccFilter\[1\] overlaps an earlier range/,
    );
    throwsTemplate(
      () =>
        parseTemplateJson(
          withMachine({ smcccFilter: [{ base: "0xffffffff", nrFunctions: 2, action: "DENY" }] }),
        ),
      "invalid",
      /0xffffffff/,
    );
  });

  it("reads and writes files", async () => {
    const dir = await mkdtemp(join(tmpdir(), "guestabi-tmpl-"));
    try {
      const p = join(dir, "t.json");
      await writeTemplateFile(p, example());
      assert.deepStrictEqual(await readTemplateFile(p), example());
      await writeFile(p, (await readFile(p, "utf8")).replace("PSCI_0_2", "NOPE"));
      await assert.rejects(readTemplateFile(p), /t\.json: features: unknown vCPU feature 'NOPE'/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
