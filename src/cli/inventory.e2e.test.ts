/**
 * guestabi inventory as a user runs it: simulated hosts, real ones from their profiles or Firecracker
 * dumps, VMs dealt over a group, a fleet file imported, listed and removed; bad input is one line,
 * exit 2, and nothing written (no database made). On SQLite always, on PostgreSQL too when
 * GUESTABI_TEST_POSTGRES names a server.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { simProfile } from "../check/testing/sim-profiles.js";
import { abiHash } from "../fleet/model.js";
import { serializeProfile } from "../formats/profile.js";
import { encodeSnapshotBinary } from "../formats/snapshot-binary.js";
import { smallSnapshot } from "../formats/testing/snapshot-arbitraries.js";
import { vcpuFeatures } from "../kvm/index.js";
import { postgresDatabase, postgresSkip } from "../inventory/testing/databases.js";
import { FINGERPRINT_FIXTURES } from "../vmm/testing/firecracker-fixtures.js";
import { CLI, guestabi, refusal, succeeded } from "./testing.js";

const EXAMPLE_FLEET = fileURLToPath(new URL("../fleet/example-fleet.json", import.meta.url));
const HD = abiHash({ kind: "host-defaults", features: vcpuFeatures("PSCI_0_2") }).slice(0, 12);
const PMU = abiHash({ kind: "host-defaults", features: vcpuFeatures("PSCI_0_2", "PMU_V3") }).slice(0, 12);

let dir = "";
const f = (...names: string[]) => path.join(dir, ...names);

const inventory = (db: string, ...args: string[]) => guestabi(["inventory", ...args, "--db", db]);
const json = (db: string, ...args: string[]): unknown =>
  JSON.parse(succeeded(inventory(db, ...args, "--json")));
/** Everything the inventory lists: what "nothing written" compares. */
const everything = (db: string) => ["groups", "hosts", "vms"].map((what) => json(db, "list", what));

describe("guestabi inventory", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-inventory-e2e-"));
    fs.writeFileSync(
      f("host-a.profile.json"),
      serializeProfile(simProfile("6.12", "neoverse-n1", ["psci-0.2"])),
    );
    fs.writeFileSync(f("broken.json"), '{"reg_modifiers": [');
    fs.writeFileSync(f("snap.bin"), encodeSnapshotBinary(smallSnapshot()));
    fs.writeFileSync(f("notes.txt"), "not a database\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("builds an inventory of simulated hosts and the VMs on them, and lists it", () => {
    const db = f("sim.db");
    assert.match(
      succeeded(
        inventory(
          db,
          "add-sim",
          "--kernel",
          "6.12",
          "--cpu",
          "neoverse-n1",
          "--hosts",
          "3",
          "--group",
          "lts",
        ),
      ),
      new RegExp(
        `^3 simulated hosts lts-1 \\.\\. lts-3 written to ${db}: group lts, 6\\.12\\.0-sim-arm64 on neoverse-n1, profile [0-9a-f]{12} \\(psci-0\\.2, psci-0\\.2\\+pmu, psci-0\\.1\\)\\n$`,
      ),
    );
    assert.equal(
      succeeded(inventory(db, "vms", "add", "--group", "lts", "--count", "7", "--name", "web")),
      `7 VMs web-1 .. web-7 written to ${db}: on 3 hosts of group lts, ABI host-defaults ${HD}, VMM guestabi, 1 vCPU\n`,
    );
    const args = ["--features", "PSCI_0_2,PMU_V3", "--vmm", "firecracker", "--vcpus", "4"];
    assert.equal(
      succeeded(inventory(db, "vms", "add", "--host", "lts-2", "--count", "2", ...args)),
      `2 VMs lts-2-vm-1 .. lts-2-vm-2 written to ${db}: on host lts-2, ABI host-defaults ${PMU}, VMM firecracker, 4 vCPUs\n`,
    );
    assert.equal(
      succeeded(
        inventory(
          db,
          "vms",
          "add",
          "--group",
          "lts",
          "--count",
          "1",
          "--name",
          "web",
          "--abi",
          f("snap.bin"),
        ),
      ),
      `1 VM web-1 .. web-1 (1 replaced) written to ${db}: on 3 hosts of group lts, ABI snapshot ${abiHash({ kind: "snapshot", snapshot: smallSnapshot() }).slice(0, 12)}, VMM guestabi, 1 vCPU\n`,
    );
    assert.equal(
      succeeded(inventory(db, "list")),
      [
        "GROUP  HOSTS  VMS  KERNELS           CPUS",
        "lts    3      9    6.12.0-sim-arm64  neoverse-n1",
        "",
      ].join("\n"),
    );
    const hosts = json(db, "list", "hosts") as { name: string; profile: string }[];
    assert.deepEqual(
      hosts.map((h) => h.name),
      ["lts-1", "lts-2", "lts-3"],
    );
    assert.equal(new Set(hosts.map((h) => h.profile)).size, 1);
    assert.equal(
      succeeded(inventory(db, "list", "vms", "--host", "lts-2")),
      [
        "VM          HOST   GROUP  ABI                         VMM          VCPUS",
        `lts-2-vm-1  lts-2  lts    host-defaults ${PMU}  firecracker  4`,
        `lts-2-vm-2  lts-2  lts    host-defaults ${PMU}  firecracker  4`,
        `web-2       lts-2  lts    host-defaults ${HD}  guestabi     1`,
        `web-5       lts-2  lts    host-defaults ${HD}  guestabi     1`,
        "",
      ].join("\n"),
    );
    assert.deepEqual(
      (json(db, "list", "vms", "--group", "lts", "--limit", "2", "--offset", "3") as { name: string }[]).map(
        (v) => v.name,
      ),
      ["web-2", "web-3"], // after lts-2-vm-1, lts-2-vm-2, web-1
    );
  });

  it("adds real hosts from their profiles and Firecracker dumps, named after their files", () => {
    const db = f("real.db");
    const n1 = FINGERPRINT_FIXTURES.find((x) => x.cpu === "N1" && x.kernel === "6.1")!;
    const out = succeeded(inventory(db, "add", f("host-a.profile.json"), n1.path));
    assert.match(
      out,
      /^host host-a: group 6\.12\.0-sim-arm64\/neoverse-n1, 6\.12\.0-sim-arm64, profile [0-9a-f]{12}\nhost fingerprint_ARM_NEOVERSE_N1_6\.1host: group 6\.1\.172-216\.329\.amzn2023\.aarch64\/unlabelled, 6\.1\.172-216\.329\.amzn2023\.aarch64, profile [0-9a-f]{12}\n2 hosts written to /,
    );
    // Probed again (here: labelled), a host keeps its name and gets its new profile and group.
    const again = json(
      db,
      "add",
      n1.path,
      "--name",
      "fingerprint_ARM_NEOVERSE_N1_6.1host",
      "--cpu-label",
      "neoverse-n1",
    );
    assert.deepEqual(again, {
      inventory: db,
      added: 0,
      replaced: 1,
      hosts: [
        {
          name: "fingerprint_ARM_NEOVERSE_N1_6.1host",
          group: "6.1.172-216.329.amzn2023.aarch64/neoverse-n1",
          profile: (again as { hosts: { profile: string }[] }).hosts[0]!.profile,
          release: "6.1.172-216.329.amzn2023.aarch64",
          cpu: "neoverse-n1",
        },
      ],
    });
    assert.deepEqual(
      (json(db, "list") as { group: string; hosts: number; cpus: string[] }[]).map((g) => [
        g.group,
        g.hosts,
        g.cpus,
      ]),
      [
        ["6.1.172-216.329.amzn2023.aarch64/neoverse-n1", 1, ["neoverse-n1"]],
        ["6.12.0-sim-arm64/neoverse-n1", 1, ["neoverse-n1"]],
      ],
    );
  });

  it("refuses bad host files before making a database", () => {
    const db = f("never.db");
    const n1 = FINGERPRINT_FIXTURES[0]!.path;
    assert.match(refusal(inventory(db, "add", n1, f("broken.json"))), new RegExp(`^${f("broken.json")}: `));
    assert.equal(
      refusal(inventory(db, "add", n1, f("missing.json"))),
      `cannot read ${f("missing.json")}: ENOENT`,
    );
    assert.equal(
      refusal(inventory(db, "add", n1, f("host-a.profile.json"), "--name", "one")),
      "--name names one host: give one file, not 2",
    );
    assert.equal(
      refusal(inventory(db, "add", n1, n1)),
      "host 'fingerprint_ARM_NEOVERSE_N1_5.10host' is given twice",
    );
    assert.equal(fs.existsSync(db), false);
  });

  it("imports a fleet file: its groups' hosts GROUP-n and its VMs NAME-n, again replacing them", () => {
    const db = f("fleet.db");
    assert.equal(
      succeeded(inventory(db, "import", EXAMPLE_FLEET)),
      `fleet example written to ${db}: 8 groups, 280 hosts, 654 VMs, 8 profiles, 2 ABIs\n`,
    );
    const doc = JSON.parse(fs.readFileSync(EXAMPLE_FLEET, "utf8")) as {
      groups: { name: string; hosts: number }[];
      vms: { group: string; count?: number }[];
    };
    const expected = doc.groups
      .map((g) => [
        g.name,
        g.hosts,
        doc.vms.filter((v) => v.group === g.name).reduce((n, v) => n + (v.count ?? 1), 0),
      ])
      .sort();
    assert.deepEqual(
      (json(db, "list") as { group: string; hosts: number; vms: number }[]).map((g) => [
        g.group,
        g.hosts,
        g.vms,
      ]),
      expected,
    );
    assert.deepEqual(json(db, "import", EXAMPLE_FLEET), {
      inventory: db,
      fleet: "example",
      groups: 8,
      hosts: { added: 0, replaced: 280 },
      vms: { added: 0, replaced: 654 },
      profiles: 8,
      abis: 2,
    });
  });

  it("removes hosts with their VMs only when told, and VMs by name; a refusal removes nothing", () => {
    const db = f("remove.db");
    succeeded(
      inventory(db, "add-sim", "--kernel", "6.1", "--cpu", "cortex-a72", "--hosts", "2", "--group", "g"),
    );
    succeeded(inventory(db, "vms", "add", "--group", "g", "--count", "3", "--name", "v"));
    const before = everything(db);
    assert.equal(
      refusal(inventory(db, "remove", "hosts", "g-1")),
      "host 'g-1' has 2 VMs: remove them first, or the host with its VMs (--with-vms); nothing removed",
    );
    assert.equal(
      refusal(inventory(db, "remove", "vms", "v-1", "v-9")),
      `no VM 'v-9' in ${db}: nothing removed`,
    );
    assert.deepEqual(everything(db), before);
    assert.equal(
      succeeded(inventory(db, "remove", "hosts", "g-1", "--with-vms")),
      `removed 1 host and 2 VMs from ${db}\n`,
    );
    assert.deepEqual(json(db, "remove", "vms", "v-2"), { vms: 1, inventory: db });
    assert.equal(succeeded(inventory(db, "remove", "hosts", "g-2")), `removed 1 host and 0 VMs from ${db}\n`);
    assert.equal(succeeded(inventory(db, "list")), "GROUP  HOSTS  VMS  KERNELS  CPUS\n");
  });

  it("refuses bad options and unknown places in one line, writing nothing", () => {
    const db = f("options.db");
    succeeded(
      inventory(db, "add-sim", "--kernel", "7.2", "--cpu", "neoverse-n1", "--hosts", "1", "--group", "g"),
    );
    const before = everything(db);
    const cases: [string[], string][] = [
      [["vms", "add", "--group", "nope", "--count", "1"], `no group 'nope' in ${db}`],
      [["vms", "add", "--host", "nope", "--count", "1"], `VM 'nope-vm-1': no host 'nope' in ${db}`],
      [
        ["vms", "add", "--group", "g", "--host", "g-1", "--count", "1"],
        "give the VMs' place: --group G (its hosts in turn) or --host H, one of them",
      ],
      [["vms", "add", "--group", "g", "--count", "0"], "bad --count '0' (1..1000000)"],
      [["vms", "add", "--group", "g", "--count", "1", "--vmm", "vmware"], "unknown VMM 'vmware'"],
      [
        ["vms", "add", "--group", "g", "--count", "1", "--abi", f("snap.bin"), "--features", "PSCI_0_2"],
        `--features is for --abi host-defaults: ${f("snap.bin")} has its own`,
      ],
      [["vms", "add", "--group", "g", "--count", "1", "--abi", f("notes.txt")], `${f("notes.txt")}: `],
      [
        ["add-sim", "--kernel", "9.9", "--cpu", "neoverse-n1", "--hosts", "1", "--group", "x"],
        "unknown kernel '9.9'",
      ],
      [
        ["add-sim", "--kernel", "7.2", "--cpu", "pentium", "--hosts", "1", "--group", "x"],
        "unknown CPU model 'pentium'",
      ],
      [
        ["add-sim", "--kernel", "7.2", "--cpu", "max", "--hosts", "1", "--group", "bad\tname"],
        'bad group name "bad\\tname"',
      ],
      [["list", "things"], "nothing called 'things' to list (groups, hosts, vms)"],
      [
        ["list", "groups", "--group", "g"],
        "'list groups' lists every group: --group, --limit and --offset are for hosts and vms",
      ],
      [["list", "hosts", "--host", "g-1"], "--host is for 'list vms'"],
      [["list", "vms", "--limit", "-1"], "bad --limit '-1' (0 or more)"],
    ];
    for (const [args, message] of cases)
      assert.ok(refusal(inventory(db, ...args)).startsWith(message), args.join(" "));
    assert.deepEqual(everything(db), before);
  });

  it("refuses a --db that is no place for an inventory, in one line, touching nothing", () => {
    assert.equal(
      refusal(inventory(dir, "list")),
      `cannot use ${dir} as an inventory: it is a directory, not a regular file`,
    );
    assert.equal(
      refusal(
        inventory(
          f("notes.txt"),
          "add-sim",
          "--kernel",
          "7.2",
          "--cpu",
          "max",
          "--hosts",
          "1",
          "--group",
          "g",
        ),
      ),
      `${f("notes.txt")} is not a SQLite database: refusing to use it as an inventory`,
    );
    assert.equal(fs.readFileSync(f("notes.txt"), "utf8"), "not a database\n");
    assert.equal(
      refusal(inventory(f("absent.db"), "list")),
      `no inventory at ${f("absent.db")} (inventory add, add-sim or import makes one)`,
    );
    assert.equal(
      refusal(inventory(f("absent.db"), "remove", "vms", "x")),
      `no inventory at ${f("absent.db")} (inventory add, add-sim or import makes one)`,
    );
    assert.equal(fs.existsSync(f("absent.db")), false);
  });

  it("keeps guestabi.db in the working directory without --db", () => {
    fs.mkdirSync(f("cwd"));
    const r = spawnSync(
      process.execPath,
      [CLI, "inventory", "add-sim", "--kernel", "6.1", "--cpu", "max", "--hosts", "1", "--group", "g"],
      {
        cwd: f("cwd"),
        encoding: "utf8",
      },
    );
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^1 simulated host g-1 \.\. g-1 written to guestabi\.db: /);
    assert.deepEqual(fs.readdirSync(f("cwd")), ["guestabi.db"]);
  });

  it("lets two processes write one new inventory at once", async () => {
    const db = f("together.db");
    const run = (group: string) =>
      new Promise<number | null>((resolve) =>
        spawn(
          process.execPath,
          [
            CLI,
            "inventory",
            "add-sim",
            "--kernel",
            "6.1",
            "--cpu",
            "max",
            "--hosts",
            "50",
            "--group",
            group,
            "--db",
            db,
          ],
          {
            stdio: "ignore",
          },
        ).on("exit", resolve),
      );
    assert.deepEqual(await Promise.all([run("one"), run("two")]), [0, 0]);
    assert.deepEqual(
      (json(db, "list") as { group: string; hosts: number }[]).map((g) => [g.group, g.hosts]),
      [
        ["one", 50],
        ["two", 50],
      ],
    );
  });
});

describe("guestabi inventory on PostgreSQL", { skip: postgresSkip() }, () => {
  it("does what it does on SQLite, naming the database without its password", async () => {
    const pg = await postgresDatabase();
    try {
      const url = new URL(pg.spec);
      url.password = "unused"; // trust authentication: a password is sent and never shown
      const db = url.toString();
      const shown = `${url.protocol}//${url.username}@${url.host}${url.pathname}`;
      assert.match(
        succeeded(
          inventory(
            db,
            "add-sim",
            "--kernel",
            "6.12",
            "--cpu",
            "neoverse-n1",
            "--hosts",
            "2",
            "--group",
            "g",
          ),
        ),
        new RegExp(`^2 simulated hosts g-1 \\.\\. g-2 written to ${shown}: group g, `),
      );
      succeeded(inventory(db, "vms", "add", "--group", "g", "--count", "3", "--name", "v"));
      assert.equal(
        succeeded(inventory(db, "list")),
        [
          "GROUP  HOSTS  VMS  KERNELS           CPUS",
          "g      2      3    6.12.0-sim-arm64  neoverse-n1",
          "",
        ].join("\n"),
      );
      assert.equal(
        refusal(inventory(db, "remove", "hosts", "g-2")),
        "host 'g-2' has 1 VM: remove them first, or the host with its VMs (--with-vms); nothing removed",
      );
      assert.equal(
        succeeded(inventory(db, "remove", "hosts", "g-2", "--with-vms")),
        `removed 1 host and 1 VM from ${shown}\n`,
      );
    } finally {
      await pg.drop();
    }
  });
});
