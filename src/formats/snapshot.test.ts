import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FW_REGS, VCPU_FEATURES, coreXReg } from "../kvm/uapi.js";
import { KvmError } from "../kvm/errors.js";
import type { KvmVcpu, RegValue } from "../kvm/types.js";
import { regValueToBytes } from "../kvm/values.js";
import { formatId, malformedReason } from "../regs/id.js";
import type { RegId } from "../regs/id.js";
import {
  SVE_VLS_ID,
  captureVcpu,
  formatSnapshotJson,
  parseSnapshotJson,
  snapshotJsonSchema,
  snapshotToJson,
  validateSnapshot,
  vlsToVqs,
  vqsToVls,
} from "./snapshot.js";
import {
  PFR0,
  UNKNOWN,
  V0,
  smallSnapshot,
  snapshotArb,
  throwsFormat,
} from "./testing/snapshot-arbitraries.js";

const SCHEMA_FILE = new URL("../../schema/snapshot.schema.json", import.meta.url);

describe("snapshot JSON form", () => {
  it("the committed schema/snapshot.schema.json is the generated one", async () => {
    const generated = snapshotJsonSchema();
    if (process.env.UPDATE_SCHEMAS) {
      // UPDATE_SCHEMAS=1 node --test dist/formats/snapshot.test.js regenerates it, formatted as schemas.ts does.
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
      "schema/snapshot.schema.json is stale: rerun this test with UPDATE_SCHEMAS=1",
    );
  });

  it("writes ids and <=64-bit values as padded hex, wider values as little-endian byte strings", () => {
    const j = snapshotToJson(smallSnapshot());
    assert.equal(j.format, "guestabi-snapshot");
    assert.deepEqual(j.version, { major: 1, minor: 1 });
    const regs = j.vcpus[0]!.regs;
    const ids = [coreXReg(0), PFR0, FW_REGS.PSCI_VERSION, V0, UNKNOWN].sort((a, b) => (a < b ? -1 : 1));
    assert.deepEqual(
      regs.map((r) => r.id),
      ids.map(formatId),
    );
    assert.equal(formatId(UNKNOWN), "0x6050000007ab1234");
    assert.equal(regs.find((r) => r.id === "0x6030000000100000")!.value, "0x1234");
    assert.equal(
      regs.find((r) => r.id === "0x6040000000100054")!.value,
      "0x000102030405060708090a0b0c0d0e0f",
    );
    assert.deepEqual(j.vcpus[0]!.attrs, [{ group: 1, attr: "0x0", data: "0x1b000000" }]);
    assert.deepEqual(j.vm.caps, [{ cap: 7, flags: 0, args: ["0x1"] }]);
  });

  it("round-trips any snapshot exactly", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        assert.deepStrictEqual(parseSnapshotJson(formatSnapshotJson(s)), s);
      }),
      { numRuns: 300 },
    );
  });

  it("accepts a newer minor version and unknown fields, refuses another major", () => {
    const j = JSON.parse(formatSnapshotJson(smallSnapshot()));
    j.version.minor = 7;
    j.futureField = { x: 1 };
    assert.deepStrictEqual(parseSnapshotJson(JSON.stringify(j)), smallSnapshot());
    j.version.major = 2;
    throwsFormat(() => parseSnapshotJson(JSON.stringify(j)), "version", /2\.7 is not supported/);
  });

  it("rejects bad input with one-line errors", () => {
    const base = () => JSON.parse(formatSnapshotJson(smallSnapshot()));
    const edit = (f: (j: ReturnType<typeof base>) => void): string => {
      const j = base();
      f(j);
      return JSON.stringify(j);
    };
    throwsFormat(() => parseSnapshotJson('{"format": \n'), "syntax", /not valid JSON/);
    throwsFormat(() => parseSnapshotJson("[]"), "schema");
    throwsFormat(() => parseSnapshotJson(edit((j) => (j.format = "other"))), "magic");
    throwsFormat(() => parseSnapshotJson(edit((j) => (j.vm.ipaBits = 99))), "schema", /^vm\.ipaBits: /);
    throwsFormat(
      () => parseSnapshotJson(edit((j) => (j.vcpus[0].regs[1].value = "0xzz"))),
      "schema",
      /vcpus\[0\]\.regs\[1\]\.value/,
    );
    throwsFormat(
      () => parseSnapshotJson(edit((j) => j.vcpus[0].regs.push({ ...j.vcpus[0].regs[0] }))),
      "register",
      /duplicate register 0x6030000000100000/,
    );
    throwsFormat(
      () => parseSnapshotJson(edit((j) => (j.vcpus[0].regs[0].value = "0x1" + "0".repeat(16)))),
      "register",
      /wider than 8 bytes/,
    );
    throwsFormat(
      () => parseSnapshotJson(edit((j) => (j.vcpus[0].regs[3].value = "0x00"))),
      "register",
      /2 hex digits, a 16-byte register needs 32/,
    );
    throwsFormat(
      () => parseSnapshotJson(edit((j) => (j.vcpus[0].regs[0].id = "0x7030000000100000"))),
      "register",
      /not KVM_REG_ARM64/,
    );
    throwsFormat(
      () => parseSnapshotJson(edit((j) => (j.vcpus[0].sveVqs = [1]))),
      "invalid",
      /without the SVE feature/,
    );
    throwsFormat(
      () => parseSnapshotJson(edit((j) => (j.vcpus[0].init.features = [3, 2]))),
      "invalid",
      /sorted/,
    );
    throwsFormat(
      () => parseSnapshotJson(edit((j) => j.vcpus.push({ ...j.vcpus[0] }))),
      "invalid",
      /duplicate vCPU id 0/,
    );
  });
});

describe("snapshot model", () => {
  it("validates value representations against the id's size", () => {
    const s = smallSnapshot();
    s.vcpus[0]!.regs.set(V0, 5n);
    throwsFormat(() => validateSnapshot(s), "invalid", /give its value as bytes/);
    s.vcpus[0]!.regs.set(V0, new Uint8Array(16));
    s.vcpus[0]!.regs.set(PFR0, 1n << 64n);
    throwsFormat(() => validateSnapshot(s), "invalid", /does not fit/);
  });

  it("keeps SVE vector lengths consistent with the features and the VLS register", () => {
    assert.deepEqual(vlsToVqs(vqsToVls([1, 2, 4, 512])), [1, 2, 4, 512]);
    assert.equal(vqsToVls([9])[1], 1);
    const s = smallSnapshot();
    const v = s.vcpus[0]!;
    v.init = { target: 5, features: [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.SVE] };
    throwsFormat(() => validateSnapshot(s), "invalid", /sveVqs is missing/);
    v.sveVqs = [1, 2];
    v.regs.set(SVE_VLS_ID, vqsToVls([1, 2]));
    validateSnapshot(s);
    v.regs.set(SVE_VLS_ID, vqsToVls([1]));
    throwsFormat(() => validateSnapshot(s), "invalid", /disagrees/);
  });

  it("registers are judged one by one, in order, also when their ids repeat the last vCPU checked", () => {
    // validateSnapshot checks only the values of a vCPU whose ids repeat the last vCPU it checked; the
    // verdict must be the full checks' in the map's order: the first malformed id or unfit value.
    const firstProblem = (regs: ReadonlyMap<RegId, RegValue>): string | undefined => {
      for (const [id, value] of regs) {
        const bad = malformedReason(id);
        if (bad) return `register id ${formatId(id)}: ${bad}`;
        try {
          regValueToBytes(id, value);
        } catch (e) {
          return (e as Error).message;
        }
      }
      return undefined;
    };
    const ids = [...smallSnapshot().vcpus[0]!.regs.keys()];
    const change = fc.record({
      at: fc.integer({ min: 0, max: ids.length - 1 }),
      id: fc.option(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      value: fc.oneof(
        fc.bigInt({ min: -(1n << 66n), max: 1n << 66n }),
        fc.integer({ min: 0, max: 40 }).map((n) => new Uint8Array(n)),
      ),
    });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 3 }), fc.boolean(), (changes, twice) => {
        const s = smallSnapshot();
        const regs = [...s.vcpus[0]!.regs];
        for (const c of changes) regs[c.at] = [c.id ?? regs[c.at]![0], c.value];
        const changed = { ...s.vcpus[0]!, id: 1, regs: new Map(regs) };
        // the first vCPU (or the snapshot validated before) primes the ids of the second
        const snapshot = { ...s, vcpus: twice ? [s.vcpus[0]!, changed] : [{ ...changed, id: 0 }] };
        if (!twice) validateSnapshot(smallSnapshot());
        const want = firstProblem(changed.regs);
        if (want === undefined) validateSnapshot(snapshot);
        else
          throwsFormat(
            () => validateSnapshot(snapshot),
            "invalid",
            new RegExp(
              `^vcpus\\[${twice ? 1 : 0}\\]\\.regs: ${want.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`,
            ),
          );
      }),
    );
  });

  it("captures every listed register of a vCPU, unknown ones included", () => {
    const regs = smallSnapshot().vcpus[0]!.regs;
    regs.set(SVE_VLS_ID, vqsToVls([1, 4]));
    const vcpu = {
      id: 3,
      getRegListRaw(capacity: number): RegId[] {
        if (capacity < regs.size) throw new KvmError("KVM_GET_REG_LIST", "E2BIG", { required: regs.size });
        return [...regs.keys()].reverse();
      },
      getOneReg: (id: RegId) => regs.get(id)!,
    } as unknown as KvmVcpu;
    const v = captureVcpu(vcpu, { target: 5, features: [4, 2, 2] });
    assert.equal(v.id, 3);
    assert.deepEqual(v.init, { target: 5, features: [2, 4] });
    assert.deepEqual(v.sveVqs, [1, 4]);
    assert.deepEqual(
      [...v.regs.keys()],
      [...regs.keys()].sort((a, b) => (a < b ? -1 : 1)),
    );
    assert.deepStrictEqual(v.regs.get(UNKNOWN), regs.get(UNKNOWN));
  });
});
