/**
 * Conformance with the kernel's own test data: every register of every sublist of the arm64
 * get-reg-list.c selftest of each kernel generation (extracted by scripts/extract-selftest-reglists.mjs
 * into ./fixtures) must decode, and to the name the selftest gives it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { KERNEL_GENERATIONS } from "./catalog.js";
import { parseId } from "./id.js";
import { nameOf, parseRegName } from "./names.js";

interface Fixture {
  kernel: string;
  sublists: Record<string, { id: string; name: string }[]>;
}

function loadFixture(generation: string): Fixture {
  const url = new URL(`../../src/regs/fixtures/selftest-reglist-${generation}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as Fixture;
}

/** Where the selftest has no name, it writes the id as a uapi expression: there is no name to match. */
const isBareExpression = (name: string) =>
  /^(ARM64_SYS_REG\(|KVM_REG_ARM_FW_REG\(|KVM_REG_ARM64 \|)/.test(name);

describe("selftest register lists", () => {
  for (const generation of KERNEL_GENERATIONS) {
    it(`decodes every register of ${generation}'s get-reg-list.c to the selftest's name`, () => {
      const fixture = loadFixture(generation);
      const entries = Object.values(fixture.sublists).flat();
      assert.ok(entries.length > 300, `${generation}: only ${entries.length} selftest registers extracted`);
      const mismatches: string[] = [];
      for (const e of entries) {
        const id = parseId(e.id);
        const n = nameOf(id);
        if (parseRegName(e.name) !== id)
          mismatches.push(`${e.id}: selftest name ${e.name} does not encode to it`);
        if (!n.known) mismatches.push(`${e.id}: ${e.name} decodes to unknown ${n.name}`);
        else if (!isBareExpression(e.name) && ![n.name, n.kernelName, n.encodingName].includes(e.name))
          mismatches.push(`${e.id}: selftest says ${e.name}, guestabi says ${n.name} (${n.kernelName})`);
        // A timer id the selftest names otherwise than KVM does: guestabi shows that name, for this kernel.
        if (n.encodingName && !isBareExpression(e.name) && e.name !== n.name)
          if (n.selftestName !== e.name || !n.selftestKernels?.includes(generation))
            mismatches.push(
              `${e.id}: selftest says ${e.name}, guestabi's selftest name is ${n.selftestName}`,
            );
      }
      assert.deepEqual(mismatches, []);
    });
  }

  it("covers the registers the kernel added over the generations", () => {
    const ids = (g: string) =>
      new Set(
        Object.values(loadFixture(g).sublists)
          .flat()
          .map((e) => e.name),
      );
    // VENDOR_HYP_BMAP_2 (implementation-ID discovery) is new in 7.2's list; the bitmaps are new since 5.10.
    assert.equal(ids("7.2").has("KVM_REG_ARM_VENDOR_HYP_BMAP_2"), true);
    assert.equal(ids("6.12").has("KVM_REG_ARM_VENDOR_HYP_BMAP_2"), false);
    assert.equal(ids("6.1").has("KVM_REG_ARM_STD_BMAP"), true);
    assert.equal(ids("5.10").has("KVM_REG_ARM_STD_BMAP"), false);
  });
});
