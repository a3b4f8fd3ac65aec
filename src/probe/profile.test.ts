import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  PROFILE_LIMITS,
  ProfileError,
  kernelGeneration,
  profileToJson,
  readProfile,
  profileRules,
  rulesGeneration,
  serializeProfile,
} from "../formats/profile.js";
import { SCHEMA_DIR, generatedSchemas } from "../formats/schemas.js";
import { fakeProfile } from "./testing/fake-profile.js";

const profile = fakeProfile();
const text = serializeProfile(profile);
/** A fresh JSON copy of the valid profile, to break. */
const json = () => JSON.parse(text) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function rejects(doc: unknown, pattern: RegExp): void {
  const input = typeof doc === "string" ? doc : JSON.stringify(doc);
  assert.throws(
    () => readProfile(input, "p.json"),
    (e: unknown) => {
      assert.ok(e instanceof ProfileError, `ProfileError, got ${String(e)}`);
      assert.doesNotMatch(e.message, /\n/);
      assert.match(e.message, /^p\.json: /);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

describe("the committed JSON Schemas", () => {
  for (const [file, schema] of Object.entries(generatedSchemas()))
    it(`schema/${file} is what the zod schema generates (regenerate: node dist/formats/schemas.js --write)`, () => {
      const committed = JSON.parse(fs.readFileSync(path.join(SCHEMA_DIR, file), "utf8")) as unknown;
      assert.deepEqual(committed, schema);
    });
});

describe("reading profiles", () => {
  it("round-trips a probed profile exactly (same text, same values)", () => {
    const back = readProfile(text);
    assert.deepEqual(back, profile);
    assert.equal(serializeProfile(back), text);
  });

  it("turns ids and values into bigint and wide values into bytes", () => {
    const c = readProfile(text).configs[0]!;
    const [id, value] = c.reset![0]!;
    assert.equal(typeof id, "bigint");
    assert.equal(typeof value, "bigint");
    assert.ok(c.reset!.some(([, v]) => v instanceof Uint8Array));
  });

  it("rejects what is not a profile of this version, in one line", () => {
    rejects("{", /not JSON/);
    rejects([], /not a guestabi-host-profile document/);
    rejects({ ...json(), format: "guestabi-snapshot" }, /not a guestabi-host-profile document/);
    rejects(
      { ...json(), version: 2 },
      /unsupported guestabi-host-profile version 2 \(this guestabi reads version 1\)/,
    );
    rejects({ ...json(), version: "1" }, /unsupported .* version "1"/);
  });

  it("rejects wrong types and unknown keys, naming the place", () => {
    rejects({ ...json(), configs: "psci-0.2" }, /^p\.json: configs: /);
    rejects({ ...json(), extra: 1 }, /Unrecognized key/);
    const d = json();
    d.configs[0].init = 0;
    rejects(d, /configs\[0\]\.init/);
    const h = json();
    h.host.generation = "6.2";
    rejects(h, /host\.generation/);
  });

  it("rejects register ids that do not decode and values of the wrong size", () => {
    const bad = json();
    bad.configs[0].reset[0][0] = "0x7030000000100000"; // architecture field is not arm64
    rejects(bad, /configs\[0\]\.reset\[0\]\[0\]: register id does not decode/);
    const upper = json();
    upper.configs[0].reset[0][0] = "0x603000000010000A";
    rejects(upper, /register id is 0x followed by 16 lower-case hex digits/);
    const wide = json();
    wide.configs[0].reset[0][1] = "00".repeat(16); // bytes for a 64-bit register
    rejects(wide, /does not fit the register's size/);
    const big = json();
    const v0 = big.configs[0].reset.findIndex(
      ([, v]: [string, string]) => !v.startsWith("0x") && !v.startsWith("E"),
    );
    big.configs[0].reset[v0][1] = "0x1"; // a number for a 128-bit register
    rejects(big, /does not fit the register's size/);
    const lead = json();
    lead.configs[0].reset[0][1] = "0x01";
    rejects(lead, /minimal lower-case hex/);
  });

  it("rejects absurd sizes before trusting anything", () => {
    rejects(" ".repeat(PROFILE_LIMITS.fileBytes + 1), /larger than/);
    const many = json();
    many.configs[0].reset = Array.from(
      { length: PROFILE_LIMITS.registers + 1 },
      () => many.configs[0].reset[0],
    );
    rejects(many, /configs\[0\]\.reset: Too big/);
    const long = json();
    long.host.release = "x".repeat(1000);
    rejects(long, /host\.release/);
    const bits = json();
    const g = bits.configs[0].experiments.find((x: { bits?: unknown }) => x.bits);
    g.bits.push("EINVAL");
    rejects(bits, /bits/);
  });

  it("survives arbitrary mutations: accepted only when canonical and schema-valid, else one ProfileError", () => {
    type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
    const base = json() as Json;
    const paths: (string | number)[][] = [];
    const walk = (v: Json, p: (string | number)[]) => {
      paths.push(p);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    walk(base, []);
    const mutation = fc.record({
      at: fc.nat({ max: paths.length - 1 }),
      op: fc.constantFrom("replace", "delete", "add-key"),
      value: fc.oneof(
        fc.jsonValue({ maxDepth: 2 }),
        fc.constantFrom(
          "0x0",
          "0xffffffffffffffff",
          "EINVAL",
          "ok",
          "0x6030000000130000",
          "0x7030000000100000",
          "00".repeat(16),
          -1,
          1e300,
        ),
      ),
      key: fc.string({ maxLength: 8 }),
    });
    fc.assert(
      fc.property(mutation, ({ at, op, value, key }) => {
        const doc = structuredClone(base);
        const p = paths[at]!;
        if (p.length === 0) return; // the root: covered by the rejection tests
        let parent = doc as Record<string | number, Json>;
        for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, Json>;
        const last = p[p.length - 1]!;
        if (op === "replace") parent[last] = value as Json;
        else if (op === "delete") {
          if (Array.isArray(parent)) parent.splice(last as number, 1);
          else Reflect.deleteProperty(parent, last);
        } else {
          const target = parent[last];
          if (!target || typeof target !== "object" || Array.isArray(target)) return;
          (target as Record<string, Json>)[key] = value as Json;
        }
        const input = JSON.stringify(doc);
        let read;
        try {
          read = readProfile(input, "m.json");
        } catch (e) {
          assert.ok(e instanceof ProfileError, `only ProfileError may escape, got ${String(e)}`);
          assert.doesNotMatch(e.message, /\n/);
          return;
        }
        // Accepted: then the document was already in canonical, schema-valid form.
        assert.deepEqual(profileToJson(read), JSON.parse(input));
      }),
      { numRuns: 300 },
    );
  });
});

describe("kernel generations", () => {
  it("maps Debian's releases to their generation", () => {
    assert.equal(kernelGeneration("5.10.0-32-arm64"), "5.10");
    assert.equal(kernelGeneration("6.1.0-50-arm64"), "6.1");
    assert.equal(kernelGeneration("6.12.95+deb12-arm64"), "6.12");
    assert.equal(kernelGeneration("7.2.13+deb14-arm64"), "7.2");
    assert.equal(kernelGeneration("6.1"), "6.1");
  });

  it("gives null for another kernel; its rules are the newest modelled generation not newer than it", () => {
    assert.equal(kernelGeneration("6.10.3-arm64"), null);
    assert.equal(kernelGeneration("6.13-rc1"), null);
    assert.equal(kernelGeneration("61.1"), null);
    assert.deepEqual(rulesGeneration("6.18.30-61.116.amzn2023.aarch64"), {
      generation: "6.12",
      basis: "assumed",
    });
    assert.deepEqual(rulesGeneration("6.1.172-216.329.amzn2023.aarch64"), {
      generation: "6.1",
      basis: "exact",
    });
    assert.deepEqual(rulesGeneration("7.3.4+deb13-arm64"), { generation: "7.2", basis: "assumed" });
    assert.deepEqual(rulesGeneration("6.11.0"), { generation: "6.1", basis: "assumed" });
    assert.deepEqual(rulesGeneration("4.19.0-27-arm64"), { generation: "5.10", basis: "unknown" });
    assert.deepEqual(rulesGeneration("linux"), { generation: "5.10", basis: "unknown" });
    const other = { ...profile, host: { ...profile.host, release: "6.8.0-1-arm64", generation: null } };
    assert.deepEqual(profileRules(other), { generation: "6.1", basis: "assumed" });
    assert.deepEqual(profileRules(profile), { generation: "6.1", basis: "exact" });
  });
});
