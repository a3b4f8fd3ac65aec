import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { formatJson } from "./json-format.js";

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
