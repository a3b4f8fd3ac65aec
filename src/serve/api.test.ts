import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { SimHosts } from "../fleet/fleet.js";
import { profileHash } from "../fleet/model.js";
import { profileToJson } from "../formats/profile.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import { checkRequestBody } from "./api.js";
import type { BodyRoute } from "./api.js";
import { HttpError } from "./http.js";
import { serve } from "./serve.js";
import type { Serving } from "./serve.js";
import { simInventory } from "./testing/sim-inventory.js";
import { TOKEN_ENV } from "./token.js";

const TOKEN = "test-token-0123456789abcdef";
const AUTH = { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" };

interface Reply {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function call(server: Serving, method: string, path: string, body?: unknown, headers = AUTH) {
  const res = await fetch(new URL(`api/v1${path}`, server.url), {
    method,
    headers,
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

const get = (server: Serving, path: string) => call(server, "GET", path, undefined, {} as typeof AUTH);
const errorOf = (r: Reply) => [r.status, r.body.error];

interface Entry {
  names: string[];
  abi: string;
  status: string;
  count: number;
  from: string;
  to: string;
  effects: { text: string }[];
}

describe("serve API over a simulated inventory", () => {
  let dir: string;
  let db: string;
  let server: Serving;
  let readOnly: Serving;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-serve-"));
    db = path.join(dir, "fleet.db");
    await (await simInventory(db)).close();
    server = await serve({ db, port: 0, env: { [TOKEN_ENV]: TOKEN } });
    readOnly = await serve({ db, port: 0, env: {} });
  });
  after(async () => {
    await server.close();
    await readOnly.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("GET /: the database, whether changes are allowed, the kernels, modes and VMMs to choose from", async () => {
    const r = await get(server, "/");
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      name: "guestabi",
      api: 1,
      db,
      readOnly: false,
      kernels: ["5.10", "5.10-amzn", "6.1", "6.1-amzn", "6.12", "6.18", "7.2", "next"],
      modes: ["as-described", "host-defaults", "pinned"],
      vmms: [
        "guestabi",
        "qemu@7.2",
        "qemu@10.0",
        "qemu@11.1",
        "firecracker",
        "cloud-hypervisor",
        "crosvm",
        "qemu",
      ],
      maxPage: 1000,
    });
    assert.equal((await get(readOnly, "/")).body.readOnly, true);
  });

  it("GET /groups and /profiles: hosts, VMs, kernels and CPUs", async () => {
    assert.deepEqual((await get(server, "/groups")).body, {
      groups: [
        { group: "edge-a72", hosts: 2, vms: 6, kernels: ["7.2.0-sim-arm64"], cpus: ["cortex-a72"] },
        { group: "edge-n1", hosts: 2, vms: 5, kernels: ["7.2.0-sim-arm64"], cpus: ["neoverse-n1"] },
        { group: "stable-a72", hosts: 2, vms: 2, kernels: ["6.1.0-sim-arm64"], cpus: ["cortex-a72"] },
        { group: "stable-n1", hosts: 1, vms: 1, kernels: ["6.1.0-sim-arm64"], cpus: ["neoverse-n1"] },
      ],
    });
    const { profiles } = (await get(server, "/profiles")).body as {
      profiles: { hash: string; release: string; cpu: string; hosts: number }[];
    };
    assert.deepEqual(
      profiles.map((p) => [p.release, p.cpu, p.hosts]),
      [
        ["6.1.0-sim-arm64", "cortex-a72", 2],
        ["6.1.0-sim-arm64", "neoverse-n1", 1],
        ["7.2.0-sim-arm64", "cortex-a72", 2],
        ["7.2.0-sim-arm64", "neoverse-n1", 2],
      ],
    );
    for (const p of profiles) assert.match(p.hash, /^[0-9a-f]{64}$/);
  });

  it("GET /fleet: hosts and VMs by kernel release and CPU, with their groups", async () => {
    assert.deepEqual((await get(server, "/fleet")).body, {
      cells: [
        {
          release: "6.1.0-sim-arm64",
          kernel: "6.1",
          cpu: "cortex-a72",
          hosts: 2,
          vms: 2,
          groups: ["stable-a72"],
        },
        {
          release: "6.1.0-sim-arm64",
          kernel: "6.1",
          cpu: "neoverse-n1",
          hosts: 1,
          vms: 1,
          groups: ["stable-n1"],
        },
        {
          release: "7.2.0-sim-arm64",
          kernel: "7.2",
          cpu: "cortex-a72",
          hosts: 2,
          vms: 6,
          groups: ["edge-a72"],
        },
        {
          release: "7.2.0-sim-arm64",
          kernel: "7.2",
          cpu: "neoverse-n1",
          hosts: 2,
          vms: 5,
          groups: ["edge-n1"],
        },
      ],
    });
  });

  it("GET /hosts and /vms: filtered and paged, at most 1000 a page", async () => {
    const names = (r: Reply, key: string) => (r.body[key] as { name: string }[]).map((x) => x.name);
    assert.deepEqual(names(await get(server, "/hosts?group=edge-n1"), "hosts"), ["edge-n1-1", "edge-n1-2"]);
    const page = await get(server, "/hosts?limit=3&offset=2");
    assert.deepEqual(names(page, "hosts"), ["edge-n1-1", "edge-n1-2", "stable-a72-1"]);
    assert.deepEqual([page.body.limit, page.body.offset], [3, 2]);
    const host = (await get(server, "/hosts?group=stable-n1")).body.hosts as object[];
    assert.deepEqual(
      host.map((h) => ({ ...h, profile: "-" })),
      [
        {
          name: "stable-n1-1",
          group: "stable-n1",
          profile: "-",
          release: "6.1.0-sim-arm64",
          cpu: "neoverse-n1",
        },
      ],
    );
    assert.deepEqual(names(await get(server, "/vms?host=edge-n1-1"), "vms"), [
      "batch-1",
      "cache-1",
      "cache-3",
    ]);
    assert.deepEqual(names(await get(server, "/vms?group=edge-a72&limit=2&offset=1"), "vms"), [
      "api-2",
      "web-1",
    ]);
    const vm = (await get(server, "/vms?host=stable-n1-1")).body.vms as { abi: string }[];
    assert.deepEqual(
      vm.map((v) => ({ ...v, abi: "-" })),
      [
        {
          name: "queue-1",
          host: "stable-n1-1",
          group: "stable-n1",
          abi: "-",
          abiKind: "host-defaults",
          vmm: "guestabi",
          vcpus: 1,
        },
      ],
    );
    assert.equal((await get(server, "/vms")).body.limit, 100);
    assert.deepEqual(errorOf(await get(server, "/hosts?limit=1001")), [
      400,
      "bad query parameter 'limit': at most 1000",
    ]);
    assert.deepEqual(errorOf(await get(server, "/vms?offset=-1")), [
      400,
      "bad query parameter 'offset': a whole number",
    ]);
    assert.deepEqual(errorOf(await get(server, "/vms?group=nowhere")), [404, `no group 'nowhere' in ${db}`]);
    assert.deepEqual(errorOf(await get(server, "/vms?host=nowhere")), [404, `no host 'nowhere' in ${db}`]);
  });

  it("GET /impact: the counts, and each affected VM with what its guest sees, in words", async () => {
    const n1 = await get(server, "/impact?group=edge-n1&to=6.1");
    assert.equal(n1.status, 200);
    assert.equal(n1.body.format, "guestabi-impact");
    assert.deepEqual(n1.body.counts, { vms: 5, breaks: 2, guestViewChanges: 3, safe: 0, cannotStart: 0 });
    const entries = n1.body.entries as Entry[];
    assert.deepEqual(
      entries.map((e) => [e.abi, e.count, e.status, e.from, e.to]),
      [
        ["host-defaults", 2, "breaks", "7.2", "6.1"],
        ["template", 3, "guest-view-changes", "7.2", "6.1"],
      ],
    );
    // The inventory's VMs by name, each under the entry of its host profile, ABI, VMM and vCPUs.
    assert.deepEqual(
      entries.map((e) => e.names),
      [
        ["batch-1", "batch-2"],
        ["cache-1", "cache-2", "cache-3"],
      ],
    );
    assert.ok(entries[0]!.effects.some((e) => e.text === "the guest sees PSCI 1.1 instead of 1.3"));
    assert.deepEqual(
      entries[1]!.effects.map((e) => e.text),
      ["the guest sees CTR_EL0 0x8444c004 instead of 0x9444c004"],
    );
    const a72 = await get(server, "/impact?group=edge-a72&to=6.1");
    assert.deepEqual(a72.body.counts, { vms: 6, breaks: 4, guestViewChanges: 0, safe: 2, cannotStart: 0 });
    assert.deepEqual(
      (a72.body.entries as Entry[]).map((e) => [e.status, e.names]),
      [
        ["breaks", ["web-1", "web-2", "web-3", "web-4"]],
        ["safe", ["api-1", "api-2"]],
      ],
    );
    const pinned = await get(server, "/impact?group=edge-n1&to=6.1&mode=pinned&vmm=qemu");
    assert.deepEqual(pinned.body.counts, { vms: 5, breaks: 0, guestViewChanges: 5, safe: 0, cannotStart: 0 });
    assert.equal(pinned.body.vmm, "qemu@11.1");
  });

  it("GET /impact: 400 naming the parameter, or the analysis's one line; 404 for a group it lacks", async () => {
    assert.deepEqual(errorOf(await get(server, "/impact?group=edge-n1&to=6.1&mode=sideways")), [
      400,
      'bad query parameter \'mode\': Invalid option: expected one of "as-described"|"host-defaults"|"pinned"',
    ]);
    assert.deepEqual(errorOf(await get(server, "/impact?to=6.1")), [
      400,
      "bad query parameter 'group': Invalid input: expected string, received undefined",
    ]);
    assert.deepEqual(errorOf(await get(server, "/impact?group=edge-n1&to=6.1&vmm=vmware")), [
      400,
      `bad query parameter 'vmm': Invalid option: expected one of "guestabi"|"qemu@7.2"|"qemu@10.0"|"qemu@11.1"|"firecracker"|"cloud-hypervisor"|"crosvm"|"qemu"`,
    ]);
    assert.deepEqual(errorOf(await get(server, "/impact?group=edge-n1&to=9.9")), [
      400,
      "no host runs 9.9 on neoverse-n1, and 9.9 is not a simulator kernel (known: 5.10, 5.10-amzn, 6.1, 6.1-amzn, 6.12, 6.18, 7.2, next)",
    ]);
    assert.deepEqual(errorOf(await get(server, "/impact?group=nowhere&to=6.1")), [
      404,
      `no group 'nowhere' in fleet ${db} (groups: edge-a72, edge-n1, stable-a72, stable-n1)`,
    ]);
  });

  it("GET /rollout: each step's breaks and changes per policy, totals and the recommendation", async () => {
    const r = await get(server, "/rollout?to=7.2&waves=2");
    assert.equal(r.status, 200);
    assert.equal(r.body.format, "guestabi-rollout");
    assert.deepEqual(r.body.waves, [
      { wave: 1, hosts: 2, vms: 2 },
      { wave: 2, hosts: 1, vms: 1 },
    ]);
    const steps = r.body.steps as { kind: string; wave: number; byPolicy: Record<string, object> }[];
    assert.deepEqual(
      steps.map((s) => [s.kind, s.wave, s.byPolicy["host-defaults"], s.byPolicy["pair-baseline"]]),
      [
        ["upgrade", 1, { breaks: 0, changes: 2, split: 2 }, { breaks: 0, changes: 0, split: 0 }],
        ["upgrade", 2, { breaks: 0, changes: 1, split: 0 }, { breaks: 0, changes: 1, split: 0 }],
        ["rollback", 1, { breaks: 2, changes: 0, split: 0 }, { breaks: 0, changes: 0, split: 0 }],
        ["rollback", 2, { breaks: 3, changes: 0, split: 0 }, { breaks: 0, changes: 1, split: 0 }],
      ],
    );
    assert.deepEqual(r.body.totals, {
      "as-described": { breaks: 3, changes: 3 },
      "host-defaults": { breaks: 3, changes: 3 },
      "qemu-compat": { breaks: 3, changes: 3 },
      "pair-baseline": { breaks: 0, changes: 2 },
      "fleet-baseline": { breaks: 0, changes: 2 },
    });
    assert.equal((r.body.recommendation as { policy: string }).policy, "pair-baseline");
    assert.deepEqual(errorOf(await get(server, "/rollout?to=7.2&waves=0")), [
      400,
      "bad query parameter 'waves': at least 1",
    ]);
    assert.deepEqual(errorOf(await get(server, "/rollout?to=7.2")), [
      400,
      "bad query parameter 'waves': Invalid input: expected string, received undefined",
    ]);
  });

  it("GET /plan: the plan's rollbacks with what to pin; one rollback with group and to", async () => {
    const all = await get(server, "/plan");
    assert.equal(all.body.format, "guestabi-plan");
    const rollbacks = all.body.rollbacks as { group: string; to: string; recommendation: string }[];
    assert.deepEqual(
      rollbacks.map((x) => [x.group, x.to]),
      [
        ["edge-a72", "6.1"],
        ["edge-n1", "6.1"],
      ],
    );
    const one = await get(server, "/plan?group=edge-n1&to=6.1");
    const [r] = one.body.rollbacks as { group: string; recommendation: string }[];
    assert.equal(
      r!.recommendation,
      "roll edge-n1 back to 6.1: 5 of 5 VMs break with host defaults, 0 pinned to the baseline of 7.2 and 6.1, 5 still see a change (sees CTR_EL0 0x8444c004 instead of 0x9444c004): before the upgrade, pin edge-n1's VMs to neoverse-n1-psci-0.2-6.1+7.2.abi.json; the guests give up: sees PSCI 1.1 instead of 1.3; sees ID_AA64DFR0_EL1.DebugVer 6=IMP instead of 8=V8P2; sees CLIDR_EL1 0x82000023 instead of 0x2000021",
    );
    assert.deepEqual(errorOf(await get(server, "/plan?group=edge-n1")), [
      400,
      "bad query parameter 'to': group and to go together (one rollback), or neither (the plan's own)",
    ]);
  });

  it("GET /baselines: per CPU model the baseline, per group what pinning to it gives up", async () => {
    const r = await get(server, "/baselines");
    assert.equal(r.body.format, "guestabi-baselines");
    const baselines = r.body.baselines as {
      cpu: string;
      features: string[];
      kernels: string[];
      file: string;
    }[];
    assert.deepEqual(
      baselines.map((b) => [b.cpu, b.features, b.kernels, b.file]),
      [
        ["cortex-a72", ["PSCI_0_2"], ["6.1", "7.2"], "cortex-a72-psci-0.2.abi.json"],
        ["neoverse-n1", ["PSCI_0_2"], ["6.1", "7.2"], "neoverse-n1-psci-0.2.abi.json"],
      ],
    );
    const giveUps = r.body.giveUps as { group: string; byFeatures: { effects: { text: string }[] }[] }[];
    assert.deepEqual(
      giveUps.map((g) => [g.group, g.byFeatures.length]),
      [
        ["edge-a72", 1],
        ["edge-n1", 1],
        ["stable-a72", 1],
        ["stable-n1", 1],
      ],
    );
    const edgeN1 = giveUps[1]!.byFeatures[0]!.effects.map((e) => e.text);
    assert.ok(edgeN1.includes("the guest sees PSCI 1.1 instead of 1.3"), edgeN1.join("; "));
  });

  it("changes need the token: 401 without it or with another, 403 on a read-only server", async () => {
    const body = { vms: ["web-1"] };
    const none = await call(server, "DELETE", "/vms", body, {
      "Content-Type": "application/json",
    } as typeof AUTH);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="guestabi"');
    const wrong = await call(server, "DELETE", "/vms", body, { ...AUTH, Authorization: `Bearer ${TOKEN}0` });
    assert.equal(wrong.status, 401);
    const ro = await call(readOnly, "DELETE", "/vms", body);
    assert.equal(ro.status, 403);
    assert.deepEqual(
      ((await get(server, "/vms?host=edge-a72-1")).body.vms as { name: string }[]).map((v) => v.name),
      ["api-1", "web-1", "web-3"],
    );
  });

  it("POST and DELETE hosts and VMs: a group added with its profile, a VM on it, both removed; the analysis sees each change", async () => {
    const profile = new SimHosts([[VCPU_FEATURES.PSCI_0_2]]).profile("6.12", "neoverse-n1");
    const added = await call(server, "POST", "/hosts", {
      group: "canary",
      profile: profileToJson(profile),
      hosts: ["canary-1", "canary-2"],
    });
    assert.deepEqual(
      [added.status, added.body],
      [201, { profile: profileHash(profile), hosts: { added: 2, replaced: 0 } }],
    );
    const vm = await call(server, "POST", "/vms", {
      abi: { kind: "host-defaults", features: ["PSCI_0_2"] },
      vcpus: 2,
      vms: [
        { name: "probe-1", host: "canary-1" },
        { name: "probe-2", host: "canary-2" },
      ],
    });
    assert.equal(vm.status, 201);
    assert.deepEqual(vm.body.vms, { added: 2, replaced: 0 });
    const groups = (await get(server, "/groups")).body.groups as { group: string }[];
    assert.deepEqual(groups.at(0), {
      group: "canary",
      hosts: 2,
      vms: 2,
      kernels: ["6.12.0-sim-arm64"],
      cpus: ["neoverse-n1"],
    });
    const impact = await get(server, "/impact?group=canary&to=6.1");
    assert.deepEqual(impact.body.counts, { vms: 2, breaks: 2, guestViewChanges: 0, safe: 0, cannotStart: 0 });
    // The same ABI again, by the hash the first POST answered.
    const again = await call(server, "POST", "/vms", {
      abi: vm.body.abi,
      vms: [{ name: "probe-3", host: "canary-1" }],
    });
    assert.deepEqual(again.body.vms, { added: 1, replaced: 0 });

    assert.deepEqual((await call(server, "DELETE", "/vms", { vms: ["probe-1"] })).body, { vms: 1 });
    assert.deepEqual(errorOf(await call(server, "DELETE", "/hosts", { hosts: ["canary-1", "canary-2"] })), [
      400,
      "host 'canary-1' has 1 VM: remove them first, or the host with its VMs (--with-vms); nothing removed",
    ]);
    const removed = await call(server, "DELETE", "/hosts", {
      hosts: ["canary-1", "canary-2"],
      withVms: true,
    });
    assert.deepEqual([removed.status, removed.body], [200, { hosts: 2, vms: 2 }]);
    assert.deepEqual(errorOf(await get(server, "/impact?group=canary&to=6.1")), [
      404,
      `no group 'canary' in fleet ${db} (groups: edge-a72, edge-n1, stable-a72, stable-n1)`,
    ]);
    assert.deepEqual(errorOf(await call(server, "DELETE", "/vms", { vms: ["nobody"] })), [
      404,
      `no VM 'nobody' in ${db}: nothing removed`,
    ]);
  });

  it("POST /profiles: a host profile as the body; a document that is not one is a 400", async () => {
    const profile = new SimHosts([[VCPU_FEATURES.PSCI_0_2]]).profile("6.18", "cortex-a72");
    const r = await call(server, "POST", "/profiles", profileToJson(profile));
    assert.deepEqual(
      [r.status, r.body],
      [201, { profile: profileHash(profile), release: "6.18.0-sim-arm64", cpu: "cortex-a72" }],
    );
    assert.deepEqual(errorOf(await call(server, "POST", "/profiles", { format: "guestabi-fleet" })), [
      400,
      'profile: not a guestabi-host-profile document (no "format": "guestabi-host-profile")',
    ]);
    assert.deepEqual(errorOf(await call(server, "POST", "/profiles", [1, 2])), [
      400,
      "bad request body: a host profile (guestabi-host-profile) object",
    ]);
  });

  it("bad bodies: 400 with where the problem is; __proto__ is an unknown key; nothing written", async () => {
    const cases: [unknown, string][] = [
      [
        { group: "g", profile: "nothex", hosts: ["h"] },
        "bad request body at profile: a profile hash (64 hex digits)",
      ],
      [
        { group: "g", profile: "0".repeat(64), hosts: [] },
        "bad request body at hosts: Too small: expected array to have >=1 items",
      ],
      [
        { group: "g", profile: "0".repeat(64), hosts: ["h"], extra: 1 },
        "bad request body: unknown key 'extra'",
      ],
      [
        JSON.parse(
          `{"__proto__": {"admin": true}, "group": "g", "profile": "${"0".repeat(64)}", "hosts": ["h"]}`,
        ),
        "bad request body: unknown key '__proto__'",
      ],
      [
        { group: "g", profile: "0".repeat(64), hosts: ["h"] },
        `host 'h': no profile ${"0".repeat(64)} in ${db} (add the profile first)`,
      ],
    ];
    for (const [body, error] of cases)
      assert.deepEqual(
        errorOf(await call(server, "POST", "/hosts", body)),
        [400, error],
        JSON.stringify(body),
      );
    assert.equal(({} as { admin?: boolean }).admin, undefined);
    const vmCases: [unknown, string][] = [
      [
        { abi: { kind: "host-defaults", features: ["WARP_DRIVE"] }, vms: [{ name: "v", host: "edge-n1-1" }] },
        "bad request body at abi: Invalid input",
      ],
      [
        { abi: { format: "guestabi-abi-template" }, vms: [{ name: "v", host: "edge-n1-1" }] },
        "bad request body at abi: version: Invalid input: expected object, received undefined (and 5 more)",
      ],
      [
        { abi: "0".repeat(64), vms: [{ name: "v", host: "edge-n1-1" }] },
        `VM 'v': no ABI ${"0".repeat(64)} in ${db} (add the ABI first)`,
      ],
      [
        { abi: { kind: "host-defaults" }, vms: [{ name: "v", host: "nowhere" }] },
        `VM 'v': no host 'nowhere' in ${db}`,
      ],
    ];
    for (const [body, error] of vmCases) {
      const r = await call(server, "POST", "/vms", body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.ok(String(r.body.error).startsWith(error), `${String(r.body.error)} (expected ${error})`);
    }
    assert.deepEqual(errorOf(await call(server, "POST", "/vms", '{"abi": ')), [
      400,
      "request body is not JSON: Unexpected end of JSON input",
    ]);
    assert.equal(((await get(server, "/groups")).body.groups as object[]).length, 4);
  });

  it("a body over 8 MiB is a 413; unknown paths 404; other methods 405 with Allow", async () => {
    const big = JSON.stringify({ vms: ["x".repeat(9 << 20)] });
    assert.deepEqual(errorOf(await call(server, "DELETE", "/vms", big)), [413, "request body over 8 MiB"]);
    assert.deepEqual(errorOf(await get(server, "/fleets")), [404, "no such endpoint: /fleets"]);
    const put = await call(server, "PUT", "/hosts", {});
    assert.deepEqual(errorOf(put), [405, "PUT is not allowed on /hosts"]);
    assert.equal(put.headers.get("allow"), "GET, POST, DELETE");
    assert.deepEqual(errorOf(await call(server, "POST", "/impact", {})), [
      405,
      "POST is not allowed on /impact",
    ]);
  });

  it("serves the dashboard: its HTML loads its script and style as files, under a strict CSP", async () => {
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.equal(
      page.headers.get("content-security-policy"),
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    const html = await page.text();
    assert.deepEqual(
      [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]),
      ['<script type="module" src="/app.js">'],
    );
    assert.doesNotMatch(html, /\son[a-z]+=/i);
    assert.doesNotMatch(html, /\bstyle=/i);
    for (const [file, type] of [
      ["app.js", "text/javascript; charset=utf-8"],
      ["style.css", "text/css; charset=utf-8"],
      ["favicon.svg", "image/svg+xml"],
    ]) {
      const r = await fetch(new URL(file!, server.url));
      assert.deepEqual([r.status, r.headers.get("content-type")], [200, type]);
    }
    assert.equal((await fetch(new URL("../package.json", server.url))).status, 404);
    // /api/v1 itself is the API's index, not a page.
    assert.equal((await get(server, "")).body.name, "guestabi");
  });
});

describe("checkRequestBody: a changing route's body as its handler checks it", () => {
  const rejected = (route: BodyRoute, text: string) => {
    try {
      checkRequestBody(route, JSON.parse(text));
    } catch (e) {
      return e instanceof HttpError ? [e.status, e.message] : e;
    }
    return "accepted";
  };

  it("fills the defaults; names such as __proto__ are plain names", () => {
    assert.deepEqual(checkRequestBody("DELETE /hosts", { hosts: ["__proto__"] }), {
      hosts: ["__proto__"],
      withVms: false,
    });
    assert.deepEqual(
      checkRequestBody("POST /vms", { abi: { kind: "host-defaults" }, vms: [{ name: "v", host: "h" }] }),
      {
        abi: { kind: "host-defaults", features: [VCPU_FEATURES.PSCI_0_2] },
        vmm: "guestabi",
        vcpus: 1,
        vms: [{ name: "v", host: "h" }],
      },
    );
  });

  it("reads a POST /hosts body's profile; a bad or too deeply nested one is a 400", () => {
    const profile = new SimHosts([[VCPU_FEATURES.PSCI_0_2]]).profile("6.12", "neoverse-n1");
    const b = checkRequestBody("POST /hosts", { group: "g", profile: profileToJson(profile), hosts: ["h"] });
    assert.deepEqual(b, { group: "g", profile, hosts: ["h"] });
    const nest = "[".repeat(10_000) + "]".repeat(10_000);
    assert.deepEqual(
      rejected(
        "POST /hosts",
        `{"group":"g","profile":{"format":"guestabi-host-profile","x":${nest}},"hosts":["h"]}`,
      ),
      [400, "profile: nested too deeply"],
    );
    assert.deepEqual(rejected("POST /hosts", `{"group":"g","profile":{"format":"x"},"hosts":["h"]}`), [
      400,
      'profile: not a guestabi-host-profile document (no "format": "guestabi-host-profile")',
    ]);
  });

  it("an unknown key is named on one line, a line break in it escaped", () => {
    assert.deepEqual(rejected("DELETE /vms", '{"vms":["a"],"a\\nb":1}'), [
      400,
      "bad request body: unknown key 'a\\nb'",
    ]);
    assert.deepEqual(rejected("DELETE /vms", '{"vms":["a"],"__proto__":{"vms":["b"]}}'), [
      400,
      "bad request body: unknown key '__proto__'",
    ]);
  });
});
