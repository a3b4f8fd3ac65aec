/** fast-check generators for the register model, shared by its property tests. */
import fc from "fast-check";
import { REG_SIZES } from "../id.js";

/** Any well-formed arm64 id: the arch and size fields valid, bits 28..51 clear. */
export const validId = fc
  .record({
    size: fc.integer({ min: 0, max: REG_SIZES.length - 1 }),
    coproc: fc.oneof(fc.constantFrom(0x10, 0x11, 0x13, 0x14, 0x15, 0x16), fc.integer({ min: 0, max: 0xfff })),
    low: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0xffff, 0x600, 0x400, 0x5ff)),
  })
  .map(
    ({ size, coproc, low }) =>
      0x6000_0000_0000_0000n | (BigInt(size) << 52n) | (BigInt(coproc) << 16n) | BigInt(low),
  );
