import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { alignColumns } from "./text-table.js";

describe("alignColumns", () => {
  it("pads every column but the last to its widest cell, two spaces apart", () => {
    assert.deepEqual(
      alignColumns([
        ["ID", "NAME", "NOTE"],
        ["0x1", "MIDR_EL1", ""],
        ["0x603000000013c020", "X", "last column ragged"],
      ]),
      [
        "ID                  NAME      NOTE",
        "0x1                 MIDR_EL1",
        "0x603000000013c020  X         last column ragged",
      ],
    );
  });

  it("indents, and handles 200,000 rows (no spread into Math.max)", () => {
    const rows = Array.from({ length: 200_000 }, (_, i) => [String(i), "x"]);
    const lines = alignColumns(rows, "  ");
    assert.equal(lines.length, 200_000);
    assert.equal(lines[0], "  0       x");
    assert.equal(lines[199_999], "  199999  x");
  });
});
