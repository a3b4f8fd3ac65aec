/**
 * Properties of the inventory on every backend the tests have (SQLite, and PostgreSQL with
 * GUESTABI_TEST_POSTGRES): what addProfile and addAbi store, profile and abi give back, equal but for
 * the times a content hash leaves out; any name is stored exactly as given, or refused in one line.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import fc from "fast-check";
import { abiHash, profileHash } from "../fleet/model.js";
import type { StoredAbi } from "../fleet/model.js";
import { kernelGeneration } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { snapshotArb, templateArb } from "../formats/testing/snapshot-arbitraries.js";
import { fakeProfile } from "../probe/testing/fake-profile.js";
import { InventoryError, openInventory } from "./store.js";
import type { Inventory } from "./store.js";
import { TEST_BACKENDS } from "./testing/databases.js";
import type { TestDatabase } from "./testing/databases.js";

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f]/; // what a profile's text fields may not hold

const BASE = fakeProfile();

const profileArb: fc.Arbitrary<HostProfile> = fc
  .record({
    release: fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((s) => !CONTROL.test(s)),
    cpuLabel: fc.option(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/), { nil: null }),
    probedAt: fc
      .date({ min: new Date("1970-01-01"), max: new Date("9999-12-31"), noInvalidDate: true })
      .map((d) => d.toISOString()),
    durationMs: fc.nat({ max: 1_000_000_000 }),
    skipped: fc.array(
      fc.record(
        {
          name: fc.stringMatching(/^[a-z0-9][a-z0-9.+-]{0,31}$/),
          why: fc.string({ maxLength: 60 }).filter((s) => !CONTROL.test(s)),
        },
        { noNullPrototype: true }, // decoded objects are plain, and deepStrictEqual compares prototypes
      ),
      { maxLength: 3 },
    ),
  })
  .map(({ release, cpuLabel, probedAt, durationMs, skipped }) => ({
    ...BASE,
    host: { ...BASE.host, release, generation: kernelGeneration(release), cpuLabel },
    probedAt,
    durationMs,
    skipped,
  }));

const abiArb: fc.Arbitrary<StoredAbi> = fc.oneof(
  fc
    .uniqueArray(fc.integer({ min: 0, max: 223 }), { maxLength: 8 })
    .map((features): StoredAbi => ({ kind: "host-defaults", features })),
  templateArb.map((template): StoredAbi => ({ kind: "template", template })),
  snapshotArb.map((snapshot): StoredAbi => ({ kind: "snapshot", snapshot })),
);

/** What a content hash leaves out (an equal profile or ABI stored first keeps its own). */
const withoutTimes = (p: HostProfile): HostProfile => ({ ...p, probedAt: "", durationMs: 0 });

function comparable(a: StoredAbi): StoredAbi {
  switch (a.kind) {
    case "host-defaults":
      return { kind: a.kind, features: [...a.features].sort((x, y) => x - y) };
    case "template": {
      const provenance = { ...a.template.provenance };
      delete provenance.createdAt;
      return { kind: a.kind, template: { ...a.template, provenance } };
    }
    case "snapshot": {
      const snapshot = { ...a.snapshot };
      delete snapshot.createdAt;
      return { kind: a.kind, snapshot };
    }
  }
}

for (const backend of TEST_BACKENDS) {
  describe(`inventory round trips on ${backend.name}`, { skip: backend.skip }, () => {
    let db: TestDatabase;
    let inv: Inventory;
    before(async () => {
      db = await backend.make();
      inv = await openInventory(db.spec);
      await inv.addProfile(BASE);
    });
    after(async () => {
      await inv?.close();
      await db?.drop();
    });

    it("profile(addProfile(p)) is p, but for when and how long it was probed if an equal one came first", async () => {
      await fc.assert(
        fc.asyncProperty(profileArb, async (p) => {
          const hash = await inv.addProfile(p);
          assert.equal(hash, profileHash(p));
          const back = await inv.profile(hash);
          assert.equal(profileHash(back), hash);
          assert.deepEqual(withoutTimes(back), withoutTimes(p));
        }),
        { numRuns: 40 },
      );
    });

    it("abi(addAbi(a)) is a, features sorted, but for its creation time if an equal one came first", async () => {
      await fc.assert(
        fc.asyncProperty(abiArb, async (a) => {
          const hash = await inv.addAbi(a);
          assert.equal(hash, abiHash(a));
          const back = await inv.abi(hash);
          assert.equal(abiHash(back), hash);
          assert.deepEqual(comparable(back), comparable(a));
        }),
        { numRuns: 60 },
      );
    });

    it("stores any group and host name exactly as given, or refuses it (the group first) in one line writing nothing", async () => {
      const profile = profileHash(BASE);
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: "binary", maxLength: 300 }), async (name) => {
          const before = await inv.counts();
          try {
            await inv.addHosts([{ name, group: name, profile }]);
          } catch (e) {
            assert.ok(e instanceof InventoryError, String(e));
            assert.match(e.message, /^bad group name .*: 1 to 256 characters, no control characters$/);
            assert.deepEqual(await inv.counts(), before);
            return;
          }
          assert.deepEqual(await inv.listHosts({ group: name }), [
            { name, group: name, profile, release: BASE.host.release, cpu: BASE.host.cpuLabel },
          ]);
          assert.deepEqual(await inv.removeHosts([name]), { hosts: 1, vms: 0 });
        }),
        { numRuns: 100 },
      );
    });
  });
}
