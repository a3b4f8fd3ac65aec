import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gicProbeItems } from "./gic.js";
import {
  MAX_PROBE_ITEMS,
  PROBE_MMIO_BASE,
  PROBE_RAM_BASE,
  PROBE_RAM_SIZE,
  buildProbeProgram,
  defaultProbeItems,
} from "./program.js";
import type { GuestItem, GuestLoad } from "./program.js";

const MAIN_AT = 0x1100;
const GICD = 0x0800_0000n;
const GICR = 0x080a_0000n;
const GITS = 0x0808_0000n;

/** The words of item `i` (its pc range). */
const wordsOf = (items: readonly GuestItem[], i: number): string[] => {
  const p = buildProbeProgram(items);
  const { start, end } = p.items[i]!.pc;
  return [...p.words.subarray(Number(start - p.ramBase) / 4, Number(end - p.ramBase) / 4)].map((w) =>
    w.toString(16),
  );
};

describe("load items", () => {
  const iidr: GuestLoad = { kind: "load", name: "GICD_IIDR", address: GICD + 8n, size: 4 };
  const typer: GuestLoad = { kind: "load", name: "GICR_TYPER", address: GICR + 8n, size: 8 };

  it("assemble to: x0 = 0, x1 = the address, ldr w0|x0, [x1], nop, str x0 to the item's result (GNU as words)", () => {
    // mov x0, #0; mov x1, #8; movk x1, #0x800, lsl #16; ldr w0, [x1]; nop; str x0, [x26, #256]
    assert.deepEqual(wordsOf([iidr, typer], 0), [
      "d2800000",
      "d2800101",
      "f2a10001",
      "b9400020",
      "d503201f",
      "f9008340",
    ]);
    // mov x0, #0; mov x1, #8; movk x1, #0x80a, lsl #16; ldr x0, [x1]; nop; str x0, [x26, #288]
    assert.deepEqual(wordsOf([iidr, typer], 1), [
      "d2800000",
      "d2800101",
      "f2a10141",
      "f9400020",
      "d503201f",
      "f9009340",
    ]);
  });

  it("record one result at MMIO_BASE + 0x100 + 32 * index, code placed from main", () => {
    const p = buildProbeProgram([iidr, typer]);
    assert.deepEqual(
      p.items.map((it) => [it.resultAddress, it.resultCount, it.pc.start, it.pc.end]),
      [
        [
          PROBE_MMIO_BASE + 0x100n,
          1,
          PROBE_RAM_BASE + BigInt(MAIN_AT),
          PROBE_RAM_BASE + BigInt(MAIN_AT + 24),
        ],
        [
          PROBE_MMIO_BASE + 0x120n,
          1,
          PROBE_RAM_BASE + BigInt(MAIN_AT + 24),
          PROBE_RAM_BASE + BigInt(MAIN_AT + 48),
        ],
      ],
    );
  });

  it("refuse unaligned addresses and addresses in the program's own RAM or MMIO window", () => {
    const at = (address: bigint, size: 4 | 8 = 4): GuestItem[] => [
      { kind: "load", name: "R", address, size },
    ];
    assert.throws(
      () => buildProbeProgram(at(GICD + 2n)),
      /R: load address 0x8000002 is not a 4-byte aligned GPA/,
    );
    assert.throws(() => buildProbeProgram(at(GICD + 4n, 8)), /not a 8-byte aligned GPA/);
    assert.throws(() => buildProbeProgram(at(-4n)), /not a 4-byte aligned GPA/);
    assert.throws(() => buildProbeProgram(at(1n << 64n)), /not a 4-byte aligned GPA/);
    for (const inside of [
      PROBE_MMIO_BASE,
      PROBE_MMIO_BASE + 0x100n,
      PROBE_MMIO_BASE + 0x7ffcn,
      PROBE_RAM_BASE,
    ])
      assert.throws(
        () => buildProbeProgram(at(inside)),
        /lies in the probe program's own RAM or MMIO window/,
        inside.toString(16),
      );
    assert.doesNotThrow(() => buildProbeProgram(at(PROBE_MMIO_BASE + 0x8000n)));
    assert.doesNotThrow(() => buildProbeProgram(at(PROBE_MMIO_BASE - 4n)));
    assert.doesNotThrow(() => buildProbeProgram(at(PROBE_RAM_BASE + BigInt(PROBE_RAM_SIZE))));
  });
});

describe("gicProbeItems", () => {
  it("the distributor's and redistributor's ID registers, and the ITS's with an ITS", () => {
    const rows = (items: GuestLoad[]) => items.map((it) => [it.name, it.address, it.size]);
    const withoutIts: [string, bigint, number][] = [
      ["GICD_CTLR", 0x0800_0000n, 4],
      ["GICD_TYPER", 0x0800_0004n, 4],
      ["GICD_IIDR", 0x0800_0008n, 4],
      ["GICD_TYPER2", 0x0800_000cn, 4],
      ["GICD_PIDR2", 0x0800_ffe8n, 4],
      ["GICR_CTLR", 0x080a_0000n, 4],
      ["GICR_IIDR", 0x080a_0004n, 4],
      ["GICR_TYPER", 0x080a_0008n, 8],
    ];
    assert.deepEqual(rows(gicProbeItems({ dist: GICD, redist: GICR })), withoutIts);
    assert.deepEqual(rows(gicProbeItems({ dist: GICD, redist: GICR, its: GITS })), [
      ...withoutIts,
      ["GITS_CTLR", 0x0808_0000n, 4],
      ["GITS_IIDR", 0x0808_0004n, 4],
      ["GITS_TYPER", 0x0808_0008n, 8],
    ]);
    assert.ok(gicProbeItems({ dist: GICD, redist: GICR }).every((it) => it.kind === "load"));
  });

  it("fit after the default items: within MAX_PROBE_ITEMS and the 64 KiB slot; the default list has no load", () => {
    const defaults = defaultProbeItems();
    assert.equal(
      defaults.some((it) => it.kind === "load"),
      false,
    );
    const items = [...defaults, ...gicProbeItems({ dist: GICD, redist: GICR, its: GITS })];
    assert.ok(items.length <= MAX_PROBE_ITEMS, `${items.length} items, at most ${MAX_PROBE_ITEMS}`);
    const p = buildProbeProgram(items);
    assert.equal(p.items.length, defaults.length + 11);
    assert.ok(p.bytes.length <= PROBE_RAM_SIZE);
  });
});
