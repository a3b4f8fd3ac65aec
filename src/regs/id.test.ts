import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { DecodedId } from "./id.js";
import { validId } from "./testing/arbitraries.js";
import {
  RegIdError,
  decodeId,
  encodeDecoded,
  formatId,
  malformedReason,
  parseId,
  shownText,
  sysregId,
} from "./id.js";

describe("register id codec", () => {
  it("decodes a system register id into op0/op1/CRn/CRm/op2", () => {
    assert.deepEqual(decodeId(0x603000000013c020n), {
      class: "sysreg",
      size: "U64",
      op0: 3,
      op1: 0,
      crn: 0,
      crm: 4,
      op2: 0,
    });
    assert.equal(sysregId(3, 3, 14, 3, 2), 0x603000000013df1an);
  });

  it("decodes each arm64 class by its coprocessor number", () => {
    assert.deepEqual(decodeId(0x6030000000140000n), { class: "fw", size: "U64", index: 0 });
    assert.deepEqual(decodeId(0x6030000000160002n), { class: "fwBitmap", size: "U64", index: 2 });
    assert.deepEqual(decodeId(0x6030000000100040n), { class: "core", size: "U64", offset: 0x40 });
    assert.deepEqual(decodeId(0x6020000000110001n), { class: "demux", size: "U32", demuxId: 0, value: 1 });
  });

  it("decodes the SVE slices and the VLS pseudo-register", () => {
    // KVM_REG_ARM64_SVE_ZREG(3, 0) = ARM64 | SVE | U2048 | 3 << 5
    assert.deepEqual(decodeId(0x6080000000150060n), {
      class: "sve",
      size: "U2048",
      kind: "zreg",
      n: 3,
      slice: 0,
    });
    // KVM_REG_ARM64_SVE_PREG(15, 1) = 0x400 | 15 << 5 | 1
    assert.deepEqual(decodeId(0x60500000001505e1n), {
      class: "sve",
      size: "U256",
      kind: "preg",
      n: 15,
      slice: 1,
    });
    assert.deepEqual(decodeId(0x6050000000150600n), {
      class: "sve",
      size: "U256",
      kind: "ffr",
      n: 0,
      slice: 0,
    });
    assert.deepEqual(decodeId(0x606000000015ffffn), { class: "sve", size: "U512", kind: "vls" });
    assert.deepEqual(decodeId(0x6050000000150700n), {
      class: "sve",
      size: "U256",
      kind: "unknown",
      low: 0x700,
    });
  });

  it("decodes a well-formed id of an unknown class to its raw fields", () => {
    assert.deepEqual(decodeId(0x6030000000170005n), { class: "unknown", size: "U64", coproc: 0x17, low: 5 });
  });

  it("rejects malformed ids with the reason", () => {
    assert.throws(() => decodeId(0x403000000013c020n), /architecture field is not KVM_REG_ARM64/);
    assert.throws(() => decodeId(0x609000000013c020n), /size code 9/);
    assert.throws(() => decodeId(0x603000001013c020n), /bits 28\.\.51/);
    assert.equal(malformedReason(0x603000000013c020n), undefined);
  });

  it("parses hex and decimal id text and refuses anything else", () => {
    assert.equal(parseId("0x603000000013c020"), 0x603000000013c020n);
    assert.equal(parseId("603000000013c020"), 0x603000000013c020n);
    assert.equal(parseId("6931039826524487712"), 0x603000000013c020n);
    assert.throws(() => parseId("0x1234567890abcdef0"), RegIdError);
    assert.throws(() => parseId("ID_AA64PFR0"), /not a register id: 'ID_AA64PFR0'/);
    assert.throws(() => parseId("99999999999999999999"), /out of 64-bit range/);
    assert.equal(formatId(0x6030000000140000n), "0x6030000000140000");
  });
});

describe("register id codec properties", () => {
  it("encodeDecoded(decodeId(id)) === id for every well-formed id", () => {
    fc.assert(
      fc.property(validId, (id) => encodeDecoded(decodeId(id)) === id),
      { numRuns: 20000 },
    );
  });

  it("throws RegIdError, and nothing else, for every malformed id", () => {
    const malformed = fc
      .bigInt({ min: 0n, max: (1n << 64n) - 1n })
      .filter((id) => malformedReason(id) !== undefined);
    fc.assert(
      fc.property(malformed, (id) => {
        assert.throws(() => decodeId(id), RegIdError);
      }),
      { numRuns: 20000 },
    );
  });

  it("decoding never drops information: distinct ids decode to distinct results", () => {
    fc.assert(
      fc.property(validId, validId, (a, b) => {
        const [da, db]: DecodedId[] = [decodeId(a), decodeId(b)];
        return a === b || JSON.stringify(da) !== JSON.stringify(db);
      }),
      { numRuns: 5000 },
    );
  });
});

describe("shownText", () => {
  it("keeps an error one line and short: control characters escaped, long text cut", () => {
    assert.equal(shownText("ID_AA64PFR0"), "ID_AA64PFR0");
    assert.equal(shownText("0x60\n30"), "0x60\\n30");
    assert.equal(shownText("x".repeat(100)), "x".repeat(64) + "...");
    assert.throws(() => parseId("0x6\n03"), {
      message: "not a register id: '0x6\\n03' (expected hex like 0x603000000013c020)",
    });
  });
});
