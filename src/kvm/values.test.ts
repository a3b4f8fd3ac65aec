import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { makeId } from "../regs/id.js";
import {
  fromLeBytes,
  isScalarReg,
  leBytes,
  regSizeBytes,
  regValueFits,
  regValueFromBytes,
  regValueToBytes,
  regValuesEqual,
} from "./values.js";

const U32 = 0x60200000001000d4n; // fp_regs.fpsr
const U64 = 0x603000000013c020n; // ID_AA64PFR0_EL1
const U128 = 0x6040000000100054n; // vregs[0]
const U2048 = makeId("U2048", 0x15, 0); // SVE Z0 slice 0

describe("register values", () => {
  it("sizes come from the id", () => {
    assert.equal(regSizeBytes(U32), 4);
    assert.equal(regSizeBytes(U64), 8);
    assert.equal(regSizeBytes(U128), 16);
    assert.equal(regSizeBytes(U2048), 256);
    assert.ok(isScalarReg(U64));
    assert.ok(!isScalarReg(U128));
    assert.throws(() => regSizeBytes(0x6090000000000000n), RangeError);
  });

  it("are little-endian bigints up to 8 bytes", () => {
    assert.deepEqual([...regValueToBytes(U32, 0x11223344n)], [0x44, 0x33, 0x22, 0x11]);
    assert.equal(regValueFromBytes(U32, Uint8Array.of(0x44, 0x33, 0x22, 0x11)), 0x11223344n);
    assert.equal(regValueFromBytes(U64, new Uint8Array(8).fill(0xff)), 0xffff_ffff_ffff_ffffn);
  });

  it("are exact-size byte arrays above 8 bytes", () => {
    const v = Uint8Array.from({ length: 16 }, (_, i) => i);
    const b = regValueToBytes(U128, v);
    assert.deepEqual([...b], [...v]);
    assert.notEqual(b, v, "copied");
    assert.deepEqual(regValueFromBytes(U128, v), v);
  });

  it("reject values of the wrong representation or range", () => {
    assert.throws(() => regValueToBytes(U32, 1n << 32n), RangeError);
    assert.throws(() => regValueToBytes(U64, -1n), RangeError);
    assert.throws(() => regValueToBytes(U128, 0n), RangeError);
    assert.throws(() => regValueToBytes(U64, new Uint8Array(8)), RangeError);
    assert.throws(() => regValueToBytes(U128, new Uint8Array(15)), RangeError);
    assert.throws(() => regValueFromBytes(U64, new Uint8Array(4)), RangeError);
  });

  it("round-trip any u64", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (v) => {
        assert.equal(regValueFromBytes(U64, regValueToBytes(U64, v)), v);
        assert.equal(fromLeBytes(leBytes(v, 8)), v);
      }),
    );
  });

  it("regValueFits answers exactly when regValueToBytes accepts the value", () => {
    const ids = [
      U32,
      U64,
      U128,
      U2048,
      makeId("U8", 0x10, 0),
      makeId("U16", 0x10, 0),
      makeId("U256", 0x15, 0),
    ];
    const value = fc.oneof(
      fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
      fc.constantFrom(
        0n,
        0xffn,
        0x100n,
        0xffffn,
        0x10000n,
        0xffffffffn,
        1n << 32n,
        (1n << 64n) - 1n,
        1n << 64n,
      ),
      fc.integer({ min: 0, max: 300 }).map((n) => new Uint8Array(n)),
      fc.constantFrom(16, 32, 256).map((n) => new Uint8Array(n)),
    );
    fc.assert(
      fc.property(fc.constantFrom(...ids), value, (id, v) => {
        let accepted = true;
        try {
          regValueToBytes(id, v);
        } catch {
          accepted = false;
        }
        assert.equal(regValueFits(regSizeBytes(id), v), accepted);
      }),
    );
  });

  it("compare by value", () => {
    assert.ok(regValuesEqual(3n, 3n));
    assert.ok(!regValuesEqual(3n, Uint8Array.of(3)));
    assert.ok(regValuesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
    assert.ok(!regValuesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
  });

  it("MMIO helpers truncate to the access size", () => {
    assert.deepEqual([...leBytes(0x1234n, 2)], [0x34, 0x12]);
    assert.deepEqual([...leBytes(-1n, 4)], [0xff, 0xff, 0xff, 0xff]);
    assert.throws(() => leBytes(0n, 9), RangeError);
    assert.throws(() => fromLeBytes(new Uint8Array(9)), RangeError);
  });
});
