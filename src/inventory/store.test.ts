/**
 * The inventory, one suite for both backends: SQLite always (a file in a temporary directory), and
 * PostgreSQL when GUESTABI_TEST_POSTGRES names a server (a database created for each test, dropped
 * after it). What both must do alike: content-addressed profiles and ABIs, upserts by name, refusals
 * that write nothing, the fleet model counted in SQL, names stored as data, schema versions.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import fc from "fast-check";
import { loadFleet } from "../fleet/fleet.js";
import { abiHash, profileHash } from "../fleet/model.js";
import type { FleetModel, StoredAbi, VmCount } from "../fleet/model.js";
import { kernelGeneration } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { smallSnapshot, templateArb } from "../formats/testing/snapshot-arbitraries.js";
import { VCPU_FEATURES, vcpuFeatures } from "../kvm/index.js";
import { fakeProfile } from "../probe/testing/fake-profile.js";
import { importFleet } from "./import-fleet.js";
import { MIGRATIONS, SCHEMA_VERSION, VERSION_TABLE } from "./migrations.js";
import { BATCH_ROWS } from "./postgres.js";
import { InventoryError, openInventory } from "./store.js";
import type { HostRow, Inventory, VmRow } from "./store.js";
import { TEST_BACKENDS } from "./testing/databases.js";
import type { TestDatabase } from "./testing/databases.js";

/** The fake host's profile as another kernel and CPU would have it (its content hash differs). */
function profileOf(release: string, cpuLabel: string | null): HostProfile {
  const p = fakeProfile();
  return { ...p, host: { ...p.host, release, generation: kernelGeneration(release), cpuLabel } };
}

const P61 = profileOf("6.1.0-31-arm64", "neoverse-n1");
const P612 = profileOf("6.12.9-arm64", "neoverse-n1");
const P612_UNLABELLED = profileOf("6.12.9-arm64", null);
const H61 = profileHash(P61);
const H612 = profileHash(P612);

const HOST_DEFAULTS: StoredAbi = { kind: "host-defaults", features: vcpuFeatures("PSCI_0_2") };
const WITH_PMU: StoredAbi = { kind: "host-defaults", features: vcpuFeatures("PSCI_0_2", "PMU_V3") };
const TEMPLATE: StoredAbi = {
  kind: "template",
  template: fc.sample(templateArb, { seed: 7, numRuns: 1 })[0]!,
};
const SNAPSHOT: StoredAbi = { kind: "snapshot", snapshot: smallSnapshot() };
const HD = abiHash(HOST_DEFAULTS);
const PMU = abiHash(WITH_PMU);

const vm = (name: string, host: string, abi = HD, vmm = "guestabi", vcpus = 1): VmRow => ({
  name,
  host,
  abi,
  vmm,
  vcpus,
});

/** The message of the InventoryError `p` rejects with (one line). */
async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof InventoryError, `expected an InventoryError, got ${String(e)}`);
    assert.doesNotMatch(e.message, /\n/);
    return e.message;
  }
  assert.fail("expected an InventoryError");
}

/** Byte order, as both backends sort names. */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

const vmCountOrder = (a: VmCount, b: VmCount): number =>
  byteOrder(a.group, b.group) ||
  byteOrder(a.profile, b.profile) ||
  byteOrder(a.abi, b.abi) ||
  byteOrder(a.vmm, b.vmm) ||
  a.vcpus - b.vcpus;

/** The small fleet of the model tests: two groups, three kinds of VMs. */
async function smallFleet(inv: Inventory): Promise<void> {
  await inv.add({
    profiles: [P61, P612, P612_UNLABELLED], // the last one on no host: the model leaves it out
    abis: [HOST_DEFAULTS, WITH_PMU, SNAPSHOT], // the snapshot on no VM: left out too
    hosts: [
      { name: "a-1", group: "alpha", profile: H61 },
      { name: "a-2", group: "alpha", profile: H61 },
      { name: "a-3", group: "alpha", profile: H612 },
      { name: "b-1", group: "beta", profile: H612 },
    ],
    vms: [
      vm("v1", "a-1"),
      vm("v2", "a-2"),
      vm("v3", "a-3"),
      vm("v4", "a-1", PMU, "firecracker", 2),
      vm("v5", "b-1"),
      vm("v6", "b-1", HD, "guestabi", 4),
    ],
  });
}

const SMALL_VM_COUNTS: VmCount[] = [
  { group: "alpha", profile: H61, abi: HD, vmm: "guestabi", vcpus: 1, vms: 2 },
  { group: "alpha", profile: H61, abi: PMU, vmm: "firecracker", vcpus: 2, vms: 1 },
  { group: "alpha", profile: H612, abi: HD, vmm: "guestabi", vcpus: 1, vms: 1 },
  { group: "beta", profile: H612, abi: HD, vmm: "guestabi", vcpus: 1, vms: 1 },
  { group: "beta", profile: H612, abi: HD, vmm: "guestabi", vcpus: 4, vms: 1 },
].sort(vmCountOrder);

const modelKeys = (m: FleetModel) => ({
  profiles: [...m.profiles.keys()].sort(),
  abis: [...m.abis.keys()].sort(),
});

for (const backend of TEST_BACKENDS) {
  describe(`inventory on ${backend.name}`, { skip: backend.skip }, () => {
    let db: TestDatabase | undefined;
    const open: Inventory[] = [];
    /** A new inventory in a new database (closed and dropped after the test). */
    async function fresh(): Promise<Inventory> {
      db = await backend.make();
      return reopen();
    }
    async function reopen(): Promise<Inventory> {
      const inv = await openInventory(db!.spec);
      open.push(inv);
      return inv;
    }
    afterEach(async () => {
      for (const inv of open.splice(0)) await inv.close();
      await db?.drop();
      db = undefined;
    });

    it("starts empty, at the schema version of its last migration", async () => {
      const inv = await fresh();
      assert.equal(await inv.schemaVersion(), SCHEMA_VERSION);
      assert.equal(SCHEMA_VERSION, 1);
      assert.deepEqual(await inv.counts(), { groups: 0, hosts: 0, vms: 0, profiles: 0, abis: 0 });
      assert.deepEqual(await inv.listGroups(), []);
      assert.deepEqual(await inv.listVms(), []);
    });

    it("stores a profile once by content hash: probed again, or on two hosts, it is one row", async () => {
      const inv = await fresh();
      const hash = await inv.addProfile(P61);
      assert.equal(hash, H61);
      const again = { ...P61, probedAt: "2031-05-06T07:08:09.000Z", durationMs: 1234 };
      assert.equal(await inv.addProfile(again), H61);
      assert.deepEqual(
        await inv.addHosts([
          { name: "h1", group: "g", profile: H61 },
          { name: "h2", group: "g", profile: H61 },
        ]),
        { added: 2, replaced: 0 },
      );
      assert.deepEqual(await inv.counts(), { groups: 1, hosts: 2, vms: 0, profiles: 1, abis: 0 });
      assert.deepEqual(await inv.profiles(), [
        { hash: H61, release: "6.1.0-31-arm64", cpu: "neoverse-n1", hosts: 2 },
      ]);
      assert.deepEqual(await inv.profile(H61), P61); // the first one stored, probedAt and all
    });

    it("stores ABIs once by content hash and reads each kind back", async () => {
      const inv = await fresh();
      const unsorted: StoredAbi = {
        kind: "host-defaults",
        features: [VCPU_FEATURES.PMU_V3, VCPU_FEATURES.PSCI_0_2],
      };
      assert.equal(await inv.addAbi(unsorted), PMU);
      assert.equal(await inv.addAbi(WITH_PMU), PMU);
      assert.deepEqual(await inv.abi(PMU), { kind: "host-defaults", features: [2, 3] });
      assert.equal(
        await inv.addAbi({ kind: "host-defaults", features: [] }),
        abiHash({ kind: "host-defaults", features: [] }),
      );
      assert.deepEqual(await inv.abi(abiHash({ kind: "host-defaults", features: [] })), {
        kind: "host-defaults",
        features: [],
      });
      for (const a of [TEMPLATE, SNAPSHOT]) assert.deepEqual(await inv.abi(await inv.addAbi(a)), a);
      assert.equal((await inv.counts()).abis, 4);
    });

    it("refuses ABIs and profiles that are not valid, and hashes it has not stored", async () => {
      const inv = await fresh();
      assert.match(
        await refusal(inv.addAbi({ kind: "host-defaults", features: [2, 2] })),
        /^host-defaults ABI: features must be unique bit numbers below 224 \(got \[2,2\]\)$/,
      );
      assert.match(await refusal(inv.addProfile({ ...P61, durationMs: -1 })), /^host profile: .*durationMs/);
      assert.match(await refusal(inv.profile(H61)), new RegExp(`^no profile ${H61} in `));
      assert.match(await refusal(inv.abi(HD)), new RegExp(`^no ABI ${HD} in `));
      assert.match(await refusal(inv.abi("x")), /^bad ABI hash "x": 64 lowercase hex digits$/);
      assert.deepEqual(await inv.counts(), { groups: 0, hosts: 0, vms: 0, profiles: 0, abis: 0 });
    });

    it("replaces a host by name: probed again, it gets its new profile and group; an emptied group goes", async () => {
      const inv = await fresh();
      await inv.add({ profiles: [P61, P612] });
      await inv.addHosts([
        { name: "h1", group: "old", profile: H61 },
        { name: "h2", group: "stays", profile: H61 },
      ]);
      assert.deepEqual(await inv.addHosts([{ name: "h1", group: "new", profile: H612 }]), {
        added: 0,
        replaced: 1,
      });
      assert.deepEqual(await inv.listHosts(), [
        { name: "h1", group: "new", profile: H612, release: "6.12.9-arm64", cpu: "neoverse-n1" },
        { name: "h2", group: "stays", profile: H61, release: "6.1.0-31-arm64", cpu: "neoverse-n1" },
      ]);
      assert.deepEqual(
        (await inv.listGroups()).map((g) => g.group),
        ["new", "stays"],
      );
    });

    it("refuses a host of a profile it does not have, writing none of the batch", async () => {
      const inv = await fresh();
      await inv.addProfile(P61);
      const message = await refusal(
        inv.addHosts([
          { name: "h1", group: "g", profile: H61 },
          { name: "h2", group: "g", profile: H612 },
        ]),
      );
      assert.match(message, new RegExp(`^host 'h2': no profile ${H612} in .* \\(add the profile first\\)$`));
      assert.deepEqual(await inv.counts(), { groups: 0, hosts: 0, vms: 0, profiles: 1, abis: 0 });
    });

    it("replaces VMs by name, and refuses a VM on a host it lacks without writing any of the batch", async () => {
      const inv = await fresh();
      await smallFleet(inv);
      assert.deepEqual(await inv.addVms([vm("v1", "b-1", PMU, "qemu", 8), vm("v7", "a-3")]), {
        added: 1,
        replaced: 1,
      });
      assert.deepEqual((await inv.listVms({ host: "b-1" }))[0], {
        name: "v1",
        host: "b-1",
        group: "beta",
        abi: PMU,
        abiKind: "host-defaults",
        vmm: "qemu",
        vcpus: 8,
      });
      const message = await refusal(inv.addVms([vm("v8", "a-1"), vm("v9", "ghost"), vm("v10", "ghost")]));
      assert.match(message, /^VM 'v9': no host 'ghost' in /);
      assert.match(
        await refusal(inv.addVms([vm("v8", "a-1", H61)])),
        new RegExp(`^VM 'v8': no ABI ${H61} in `),
      );
      assert.deepEqual(await inv.counts(), { groups: 2, hosts: 4, vms: 7, profiles: 3, abis: 3 });
    });

    it("refuses bad rows before writing anything", async () => {
      const inv = await fresh();
      await smallFleet(inv);
      const before = await inv.counts();
      const cases: [Promise<unknown>, RegExp][] = [
        [
          inv.addVms([vm("new\nline", "a-1")]),
          /^bad VM name "new\\nline": 1 to 256 characters, no control characters$/,
        ],
        [inv.addVms([vm("", "a-1")]), /^bad VM name "": /],
        [inv.addVms([vm("x".repeat(257), "a-1")]), /^bad VM name "x{257}": /],
        [inv.addVms([vm("half\ud800", "a-1")]), /^bad VM name /],
        [inv.addVms([vm("w1", "a-1"), vm("w2", "a-2"), vm("w1", "a-3")]), /^VM 'w1' is given twice$/],
        [inv.addVms([vm("w1", "a-1", HD, "vmware")]), /^unknown VMM 'vmware' \(known: guestabi, /],
        [inv.addVms([vm("w1", "a-1", HD, "guestabi", 0)]), /^VM 'w1': bad vCPU count 0 \(1\.\.512\)$/],
        [inv.addVms([vm("w1", "a-1", HD, "guestabi", 1.5)]), /^VM 'w1': bad vCPU count 1\.5 /],
        [inv.addVms([vm("w1", "a-1", "ABC")]), /^bad ABI hash "ABC": 64 lowercase hex digits$/],
        [inv.addHosts([{ name: "h", group: "tab\there", profile: H61 }]), /^bad group name "tab\\there": /],
        [
          inv.addHosts([
            { name: "h", group: "g", profile: H61 },
            { name: "h", group: "g", profile: H61 },
          ]),
          /^host 'h' is given twice$/,
        ],
        [inv.listHosts({ limit: -1 }), /^bad limit -1: a whole number, 0 or more$/],
      ];
      for (const [p, expected] of cases) assert.match(await refusal(p), expected);
      assert.deepEqual(await inv.counts(), before);
    });

    it("counts the fleet model in SQL: hosts by (group, profile), VMs by (group, profile, ABI, VMM, vCPUs)", async () => {
      const inv = await fresh();
      await smallFleet(inv);
      const whole = await inv.model({ name: "small" });
      assert.equal(whole.name, "small");
      assert.deepEqual(
        whole.hostCounts,
        [
          { group: "alpha", profile: H61, hosts: 2 },
          { group: "alpha", profile: H612, hosts: 1 },
          { group: "beta", profile: H612, hosts: 1 },
        ].sort((a, b) => byteOrder(a.group, b.group) || byteOrder(a.profile, b.profile)),
      );
      assert.deepEqual(whole.vmCounts, SMALL_VM_COUNTS);
      assert.deepEqual(modelKeys(whole), { profiles: [H61, H612].sort(), abis: [HD, PMU].sort() });
      assert.deepEqual(whole.profiles.get(H61), P61);
      assert.deepEqual(whole.abis.get(PMU), WITH_PMU);

      const beta = await inv.model({ groups: ["beta", "beta"] });
      assert.equal(beta.name, inv.source);
      assert.deepEqual(beta.hostCounts, [{ group: "beta", profile: H612, hosts: 1 }]);
      assert.deepEqual(
        beta.vmCounts,
        SMALL_VM_COUNTS.filter((c) => c.group === "beta"),
      );
      assert.deepEqual(modelKeys(beta), { profiles: [H612], abis: [HD] });
      assert.match(await refusal(inv.model({ groups: ["beta", "gamma"] })), /^no group 'gamma' in /);
    });

    it("summarises groups: hosts, VMs, kernels and CPU labels", async () => {
      const inv = await fresh();
      await smallFleet(inv);
      await inv.addHosts([{ name: "b-2", group: "beta", profile: profileHash(P612_UNLABELLED) }]);
      assert.deepEqual(await inv.listGroups(), [
        {
          group: "alpha",
          hosts: 3,
          vms: 4,
          kernels: ["6.1.0-31-arm64", "6.12.9-arm64"],
          cpus: ["neoverse-n1"],
        },
        { group: "beta", hosts: 2, vms: 2, kernels: ["6.12.9-arm64"], cpus: ["neoverse-n1"] },
      ]);
    });

    it("lists hosts and VMs in byte order, by group or host, a page at a time", async () => {
      const inv = await fresh();
      await smallFleet(inv);
      assert.deepEqual(
        (await inv.listHosts({ group: "alpha", limit: 2, offset: 1 })).map((h) => h.name),
        ["a-2", "a-3"],
      );
      assert.deepEqual(
        (await inv.listVms({ group: "alpha" })).map((v) => `${v.name}@${v.host}`),
        ["v1@a-1", "v2@a-2", "v3@a-3", "v4@a-1"],
      );
      assert.deepEqual(
        (await inv.listVms({ offset: 4 })).map((v) => v.name),
        ["v5", "v6"],
      );
      assert.deepEqual(
        (await inv.listVms({ group: "alpha", host: "a-1" })).map((v) => [v.name, v.abiKind, v.vmm, v.vcpus]),
        [
          ["v1", "host-defaults", "guestabi", 1],
          ["v4", "host-defaults", "firecracker", 2],
        ],
      );
      assert.deepEqual(await inv.listVms({ group: "beta", host: "a-1" }), []);
      assert.match(await refusal(inv.listHosts({ group: "gamma" })), /^no group 'gamma' in /);
      assert.match(await refusal(inv.listVms({ host: "ghost" })), /^no host 'ghost' in /);
    });

    it("removes a host only with its VMs, and names what does not exist; a refusal removes nothing", async () => {
      const inv = await fresh();
      await smallFleet(inv);
      assert.match(
        await refusal(inv.removeHosts(["b-1", "a-1"])),
        /^host 'a-1' has 2 VMs: remove them first, or the host with its VMs \(--with-vms\); nothing removed$/,
      );
      assert.match(
        await refusal(inv.removeHosts(["a-1", "ghost", "phantom"], { withVms: true })),
        /^no host 'ghost' in .* \(nor 1 more of those named\): nothing removed$/,
      );
      assert.equal((await inv.counts()).hosts, 4);
      assert.deepEqual(await inv.removeVms(["v5", "v6"]), { vms: 2 });
      assert.deepEqual(await inv.removeHosts(["b-1"]), { hosts: 1, vms: 0 });
      assert.deepEqual(await inv.removeHosts(["a-1", "a-1"], { withVms: true }), { hosts: 1, vms: 2 });
      assert.match(await refusal(inv.removeVms(["v1"])), /^no VM 'v1' in .*: nothing removed$/);
      assert.deepEqual(await inv.listGroups(), [
        {
          group: "alpha",
          hosts: 2,
          vms: 2,
          kernels: ["6.1.0-31-arm64", "6.12.9-arm64"],
          cpus: ["neoverse-n1"],
        },
      ]);
      assert.deepEqual(await inv.counts(), { groups: 1, hosts: 2, vms: 2, profiles: 3, abis: 3 });
    });

    it("stores hostile names as data: prototype keys, quotes, SQL, wildcards, any script", async () => {
      const inv = await fresh();
      await inv.addProfile(P61);
      const names = [
        "__proto__",
        "constructor",
        "hasOwnProperty",
        "x'); DROP TABLE vms; --",
        '"quoted" \\ back',
        "%_*?[",
        "ünï/cødé 🚀",
        " spaced ",
      ];
      const hosts: HostRow[] = names.map((n) => ({ name: n, group: n, profile: H61 }));
      await inv.add({ abis: [HOST_DEFAULTS], hosts, vms: names.map((n) => vm(n, n)) });
      assert.deepEqual(
        (await inv.listGroups()).map((g) => [g.group, g.hosts, g.vms]),
        [...names].sort(byteOrder).map((n) => [n, 1, 1]),
      );
      const proto = await inv.model({ groups: ["__proto__"] });
      assert.deepEqual(proto.hostCounts, [{ group: "__proto__", profile: H61, hosts: 1 }]);
      assert.deepEqual(
        proto.vmCounts.map((c) => [c.group, c.vms]),
        [["__proto__", 1]],
      );
      assert.deepEqual(
        (await inv.listVms({ host: "%_*?[" })).map((v) => v.name),
        ["%_*?["],
      );
      assert.deepEqual(await inv.removeHosts(["x'); DROP TABLE vms; --"], { withVms: true }), {
        hosts: 1,
        vms: 1,
      });
      assert.deepEqual(await inv.counts(), { groups: 7, hosts: 7, vms: 7, profiles: 1, abis: 1 });
    });

    it("imports a fleet: hosts GROUP-n with the group's simulated profile, VMs NAME-n dealt round-robin", async () => {
      const inv = await fresh();
      const fleet = await loadFleet(
        {
          format: "guestabi-fleet",
          version: 1,
          name: "tiny",
          groups: [
            { name: "n1", kernel: "6.12", cpu: "neoverse-n1", hosts: 3 },
            { name: "a72", kernel: "6.12", cpu: "cortex-a72", hosts: 1 },
          ],
          vms: [
            { name: "web", group: "n1", count: 4, abi: "host-defaults" },
            {
              name: "perf",
              group: "n1",
              count: 2,
              vcpus: 2,
              abi: "host-defaults",
              features: ["PSCI_0_2", "PMU_V3"],
              vmm: "firecracker",
            },
            { name: "ci", group: "a72", abi: "host-defaults" },
          ],
        },
        ".",
      );
      const done = await importFleet(inv, fleet);
      assert.deepEqual(
        [done.hosts, done.vms],
        [
          { added: 4, replaced: 0 },
          { added: 7, replaced: 0 },
        ],
      );
      assert.deepEqual(
        (await inv.listVms()).map((v) => `${v.name}@${v.host}/${v.vcpus}`),
        [
          "ci-1@a72-1/1",
          "perf-1@n1-2/2",
          "perf-2@n1-3/2",
          "web-1@n1-1/1",
          "web-2@n1-2/1",
          "web-3@n1-3/1",
          "web-4@n1-1/1",
        ],
      );
      const model = await inv.model();
      assert.deepEqual(
        model.vmCounts.map((c) => [
          c.group,
          c.abi === PMU ? "pmu" : c.abi === HD ? "psci" : c.abi,
          c.vmm,
          c.vcpus,
          c.vms,
        ]),
        [
          ["a72", "psci", "guestabi", 1, 1],
          ...[
            ["n1", "psci", "guestabi", 1, 4],
            ["n1", "pmu", "firecracker", 2, 2],
          ].sort((a, b) => byteOrder(a[1] === "pmu" ? PMU : HD, b[1] === "pmu" ? PMU : HD)),
        ],
      );
      // Each group's profile was probed with the configurations the fleet's VMs use.
      const n1 = model.profiles.get(model.hostCounts.find((h) => h.group === "n1")!.profile)!;
      assert.deepEqual(
        n1.configs.map((c) => c.name),
        ["psci-0.2", "psci-0.2+pmu"],
      );
      assert.equal(n1.host.cpuLabel, "neoverse-n1");
      assert.deepEqual(await importFleet(inv, fleet).then((r) => [r.hosts, r.vms]), [
        { added: 0, replaced: 4 },
        { added: 0, replaced: 7 },
      ]);
    });

    it(`writes ${2 * BATCH_ROWS + 1} VMs in one call (more than one PostgreSQL batch) and counts them`, async () => {
      const inv = await fresh();
      await smallFleet(inv);
      const hosts = ["a-1", "a-2", "a-3", "b-1"];
      const many = Array.from({ length: 2 * BATCH_ROWS + 1 }, (_, i) =>
        vm(`m${i}`, hosts[i % 4]!, i % 3 ? HD : PMU),
      );
      assert.deepEqual(await inv.addVms(many), { added: many.length, replaced: 0 });
      const counts = (await inv.model({ groups: ["beta"] })).vmCounts;
      const beta = many.filter((_, i) => i % 4 === 3);
      assert.deepEqual(
        counts.map((c) => [c.abi, c.vcpus, c.vms]),
        [
          [HD, 1, 1 + beta.filter((v) => v.abi === HD).length],
          [HD, 4, 1],
          [PMU, 1, beta.filter((v) => v.abi === PMU).length],
        ].sort((a, b) => byteOrder(a[0] as string, b[0] as string) || (a[1] as number) - (b[1] as number)),
      );
      assert.deepEqual(await inv.removeVms(many.map((v) => v.name)), { vms: many.length });
      assert.equal((await inv.counts()).vms, 6);
    });

    it("two instances opening one new database at once both migrate it and work", async () => {
      db = await backend.make();
      const [a, b] = await Promise.all([reopen(), reopen()]);
      await a.addProfile(P61);
      await Promise.all([
        a.addHosts([{ name: "from-a", group: "g", profile: H61 }]),
        b.addHosts([{ name: "from-b", group: "g", profile: H61 }]),
      ]);
      assert.deepEqual(
        (await b.listHosts()).map((h) => h.name),
        ["from-a", "from-b"],
      );
      assert.equal(await a.schemaVersion(), SCHEMA_VERSION);
    });

    it("refuses a database of a newer schema version, in one line, and leaves it as it was", async () => {
      const inv = await fresh();
      await smallFleet(inv);
      await inv.close();
      open.splice(0);
      await db!.exec(`UPDATE ${VERSION_TABLE} SET version = ${SCHEMA_VERSION + 1}`);
      assert.match(
        await refusal(openInventory(db!.spec)),
        new RegExp(
          `: inventory schema version ${SCHEMA_VERSION + 1} is newer than this guestabi's \\(${SCHEMA_VERSION}\\): use a newer guestabi$`,
        ),
      );
      await db!.exec(`UPDATE ${VERSION_TABLE} SET version = ${SCHEMA_VERSION}`);
      assert.equal((await (await reopen()).counts()).vms, 6);
    });
  });
}

describe("migrations", () => {
  it("are numbered 1, 2, ... in order, the schema version the last one's", () => {
    assert.deepEqual(
      MIGRATIONS.map((m) => m.version),
      MIGRATIONS.map((_, i) => i + 1),
    );
    assert.equal(SCHEMA_VERSION, MIGRATIONS.length);
  });
});

describe("openInventory", () => {
  it("names an unreachable PostgreSQL server in one line, without the password", async () => {
    const message = await refusal(
      openInventory("postgresql://user:secret@127.0.0.1:1/inventory?password=secret2"),
    );
    assert.equal(message, "cannot connect to postgresql://user@127.0.0.1:1/inventory: ECONNREFUSED");
  });

  it("refuses an empty name and a URL it cannot parse", async () => {
    assert.match(await refusal(openInventory("")), /^empty inventory name/);
    assert.match(await refusal(openInventory("postgres://[bad")), /^bad PostgreSQL URL/);
  });
});
