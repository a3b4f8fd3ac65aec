import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { editDistance, formatJson, shownValue } from "./json-format.js";

describe("formatJson", () => {
  it("parses back to the same value", () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 20, max: 200 }), (v, width) => {
        assert.deepEqual(JSON.parse(formatJson(v, width)), JSON.parse(JSON.stringify(v)));
      }),
    );
  });

  it("keeps what fits on one line and breaks up the rest", () => {
    const doc = { a: [1, 2], b: { c: "x".repeat(20) }, d: [{ e: 1 }, { f: "y".repeat(30) }] };
    assert.equal(
      formatJson(doc, 42),
      '{\n  "a": [1,2],\n  "b": {"c":"xxxxxxxxxxxxxxxxxxxx"},\n  "d": [\n    {"e":1},\n    {"f":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}\n  ]\n}\n',
    );
  });

  it("lays out a 64-entry sweep in rows of 8", () => {
    const bits = Array.from({ length: 64 }, (_, i) => (i % 3 ? "EINVAL" : `0x${i.toString(16)}`));
    const lines = formatJson({ bits }, 110).split("\n");
    assert.deepEqual([lines.length, lines.at(-1)], [2 + 8 + 2 + 1, ""]);
    assert.equal(lines[2], '    "0x0", "EINVAL", "EINVAL", "0x3", "EINVAL", "EINVAL", "0x6", "EINVAL",');
  });
});

describe("shownValue", () => {
  it("shows short scalars as JSON, structures by kind, long text cut, nothing as missing", () => {
    const deep = JSON.parse("[".repeat(10_000) + "]".repeat(10_000)) as unknown;
    assert.equal(shownValue("guestabi-fleet"), '"guestabi-fleet"');
    assert.equal(shownValue(2), "2");
    assert.equal(shownValue(null), "null");
    assert.equal(shownValue(undefined), "missing");
    assert.equal(shownValue(deep), "an array");
    assert.equal(shownValue({ a: 1 }), "an object");
    assert.equal(shownValue("x".repeat(100)), '"' + "x".repeat(36) + "...");
  });
});

describe("editDistance", () => {
  it("counts insertions, deletions and substitutions", () => {
    assert.equal(editDistance("templat", "template"), 1);
    assert.equal(editDistance("snapshots", "snapshot"), 1);
    assert.equal(editDistance("kitten", "sitting"), 3);
    assert.equal(editDistance("", "abi"), 3);
    assert.equal(editDistance("abi", "abi"), 0);
  });
});
