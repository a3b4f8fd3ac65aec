/**
 * The dashboard in real Chromium (Debian's, driven by playwright-core) against the real server on a
 * simulated inventory (testing/sim-inventory.ts): the grid's counts, a rollback's counts and affected
 * VMs as the API answers them, the rollout chart drawn (its pixels counted in a screenshot), an API
 * error shown in the page, and text from the inventory shown as text.
 *
 * GUESTABI_TEST_CHROMIUM set: the test must run (it fails when the browser is missing); its value is
 * the browser when it is an absolute path. Unset: it runs when /usr/bin/chromium exists, else skips.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { serve } from "./serve.js";
import type { Serving } from "./serve.js";
import { CHROMIUM, browserMissing, launchChromium } from "./testing/browser.js";
import type { Browser } from "./testing/browser.js";
import { countColour, decodePng } from "./testing/png.js";
import { simInventory } from "./testing/sim-inventory.js";
import { TOKEN_ENV } from "./token.js";

const REQUIRED = process.env.GUESTABI_TEST_CHROMIUM;
const EXECUTABLE = REQUIRED && path.isAbsolute(REQUIRED) ? REQUIRED : CHROMIUM;
const SKIP = REQUIRED ? false : (browserMissing(EXECUTABLE) ?? false);

const TOKEN = "dashboard-test-token-0123456789";

/** The page's colours of the rollout policies (app.js POLICY_COLOURS), solid: VMs that break. */
const SOLID = {
  "as-described": "#cb4335",
  "host-defaults": "#8e44ad",
  "qemu-compat": "#2874a6",
  "pair-baseline": "#17a589",
  "fleet-baseline": "#b9770e",
};
/** The same at fill-opacity 0.35 over white (255 - 0.35 * (255 - c)): VMs whose guest sees a change. */
const LIGHTER = {
  "pair-baseline": "#aee0d6",
  "fleet-baseline": "#e6cfab",
};

interface ImpactEntry {
  names: string[];
  status: string;
  count: number;
}

describe("dashboard in Chromium", { skip: SKIP }, () => {
  let dir = "";
  let db: string;
  let server: Serving | undefined;
  let browser: Browser | undefined;
  let page: Page;
  /** Exceptions the page's script did not catch. */
  const pageErrors: string[] = [];

  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(new URL(`api/v1${route}`, server!.url), {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const texts = (selector: string) => page.locator(selector).allTextContents();

  before(async () => {
    if (REQUIRED && browserMissing(EXECUTABLE))
      throw new Error(`GUESTABI_TEST_CHROMIUM is set but ${browserMissing(EXECUTABLE)}`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-dashboard-"));
    db = path.join(dir, "fleet.db");
    await (await simInventory(db)).close();
    server = await serve({ db, port: 0, env: { [TOKEN_ENV]: TOKEN } });
    browser = await launchChromium({ width: 1200, height: 900 }, EXECUTABLE);
    page = await browser.context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    await page.goto(server.url);
    await page.locator("#fleet-grid table").waitFor();
  });
  after(async () => {
    try {
      await browser?.close();
    } finally {
      await server?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("shows the fleet by kernel and CPU: hosts and VMs of each cell, as GET /fleet counts them", async () => {
    assert.equal(
      await page.locator("#summary").textContent(),
      "4 groups, 7 hosts, 14 VMs; changes allowed with the token",
    );
    const cells = await page
      .locator("#fleet-grid .cell")
      .evaluateAll((els) =>
        els.map((e) => [
          e.getAttribute("data-release"),
          e.getAttribute("data-cpu"),
          e.querySelector(".hosts")!.textContent,
          e.querySelector(".vms")!.textContent,
          e.querySelector(".groups")!.textContent,
        ]),
      );
    assert.deepEqual(cells, [
      ["6.1.0-sim-arm64", "cortex-a72", "2 hosts", "2 VMs", "stable-a72"],
      ["6.1.0-sim-arm64", "neoverse-n1", "1 hosts", "1 VMs", "stable-n1"],
      ["7.2.0-sim-arm64", "cortex-a72", "2 hosts", "6 VMs", "edge-a72"],
      ["7.2.0-sim-arm64", "neoverse-n1", "2 hosts", "5 VMs", "edge-n1"],
    ]);
    const fromApi = (await api("GET", "/fleet")).body.cells as { hosts: number; vms: number }[];
    assert.deepEqual(
      cells.map((c) => [c[2], c[3]]),
      fromApi.map((c) => [`${c.hosts} hosts`, `${c.vms} VMs`]),
    );
    assert.deepEqual(await texts("#fleet-grid tbody tr:last-child td"), [
      "all kernels",
      "4 hosts, 8 VMs",
      "3 hosts, 6 VMs",
      "7 hosts, 14 VMs",
    ]);
  });

  it("shows each group's baseline and what pinning to it gives up, in words", async () => {
    await page.locator("#baseline-table table").waitFor();
    const rows = await page
      .locator("#baseline-table tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    assert.deepEqual(
      rows.map((r) => r.slice(0, 6)),
      [
        ["edge-a72", "7.2", "cortex-a72", "2", "PSCI_0_2", "cortex-a72-psci-0.2.abi.json (kernels 6.1, 7.2)"],
        [
          "edge-n1",
          "7.2",
          "neoverse-n1",
          "2",
          "PSCI_0_2",
          "neoverse-n1-psci-0.2.abi.json (kernels 6.1, 7.2)",
        ],
        [
          "stable-a72",
          "6.1",
          "cortex-a72",
          "2",
          "PSCI_0_2",
          "cortex-a72-psci-0.2.abi.json (kernels 6.1, 7.2)",
        ],
        [
          "stable-n1",
          "6.1",
          "neoverse-n1",
          "1",
          "PSCI_0_2",
          "neoverse-n1-psci-0.2.abi.json (kernels 6.1, 7.2)",
        ],
      ],
    );
    // edge-n1 runs 7.2; its baseline spans 6.1 too.
    assert.deepEqual(await texts("#baseline-table tbody tr:nth-child(2) td:last-child li"), [
      "the guest sees PSCI 1.1 instead of 1.3",
      "the guest sees ID_AA64DFR0_EL1.DebugVer 6=IMP instead of 8=V8P2",
      "the guest sees CLIDR_EL1 0x82000023 instead of 0x2000021",
    ]);
    assert.equal(rows[3]![6], "nothing the guest sees");
  });

  it("rolls a group back: the counts and the affected VMs by name, as GET /impact answers", async () => {
    for (const [group, expected] of [
      [
        "edge-n1",
        {
          counts: ["2", "0", "3", "0"],
          rows: [
            ["batch-1", "batch-2"],
            ["cache-1", "cache-2", "cache-3"],
          ],
        },
      ],
      ["edge-a72", { counts: ["4", "0", "0", "2"], rows: [["web-1", "web-2", "web-3", "web-4"]] }],
    ] as const) {
      await page.selectOption("#group", group);
      await page.selectOption("#to", "6.1");
      await page.click("#rollback-go");
      await page.locator("#impact[aria-busy='false']").waitFor();
      const counts = await texts("#impact .count .n");
      const shownRows = await page
        .locator("#impact tbody tr")
        .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll(".vm")].map((v) => v.textContent)));
      assert.deepEqual([counts, shownRows], [expected.counts, expected.rows]);

      const r = (await api("GET", `/impact?group=${group}&to=6.1`)).body;
      const c = r.counts as Record<string, number>;
      assert.deepEqual(
        counts,
        [c.breaks, c.cannotStart, c.guestViewChanges, c.safe].map((n) => String(n)),
      );
      assert.deepEqual(
        shownRows,
        (r.entries as ImpactEntry[]).filter((e) => e.status !== "safe").map((e) => e.names),
      );
    }
    assert.deepEqual(await texts("#impact tbody tr .status"), ["breaks"]);
    assert.ok(
      (await texts("#impact tbody tr li")).includes("the guest sees PSCI 1.1 instead of 1.3"),
      "the effects are shown in words",
    );
  });

  it("draws the rollout: a bar per policy and step, the chart's pixels in the policies' colours", async () => {
    await page.selectOption("#rollout-to", "7.2");
    await page.fill("#rollout-waves", "2");
    await page.click("#rollout-go");
    await page.locator("#rollout-chart[aria-busy='false']").waitFor();
    const r = (await api("GET", "/rollout?to=7.2&waves=2")).body;
    // Over the upgrade and a full rollback three policies break 3 VM moves, the baselines none (their
    // guests see 2 changes); the chart's bars add up both rollback steps: 2 + 3 VMs that break.
    assert.deepEqual(r.totals, {
      "as-described": { breaks: 3, changes: 3 },
      "host-defaults": { breaks: 3, changes: 3 },
      "qemu-compat": { breaks: 3, changes: 3 },
      "pair-baseline": { breaks: 0, changes: 2 },
      "fleet-baseline": { breaks: 0, changes: 2 },
    });
    assert.equal(await page.locator("#rollout-svg g[data-policy]").count(), 4 * 5);
    assert.deepEqual(await texts("#rollout-svg text.step"), [
      "upgrade wave 1",
      "upgrade wave 2",
      "roll back wave 1",
      "roll back waves 1–2",
    ]);

    const img = decodePng(await page.locator("#rollout-svg").screenshot());
    assert.deepEqual([img.width, img.height], [1080, 280]);
    // The plot is 226 px high for 3 VMs, bars 22 px wide: 5 VMs that break are about 8,280 pixels, 2
    // whose guest sees a change about 3,310 (less what the bars' edges blend with the background).
    for (const p of ["as-described", "host-defaults", "qemu-compat"] as const)
      assert.ok(countColour(img, SOLID[p]) > 7500, `${p}: ${countColour(img, SOLID[p])} pixels that break`);
    for (const p of ["pair-baseline", "fleet-baseline"] as const) {
      assert.equal(countColour(img, SOLID[p]), 0, `${p} breaks nothing`);
      assert.ok(
        countColour(img, LIGHTER[p]) > 3000,
        `${p}: ${countColour(img, LIGHTER[p])} pixels of changes`,
      );
    }
  });

  it("shows the API's error in the page: a group removed since the page was loaded", async () => {
    const removed = await api("DELETE", "/hosts", { hosts: ["stable-n1-1"], withVms: true });
    assert.deepEqual(removed, { status: 200, body: { hosts: 1, vms: 1 } });
    await page.selectOption("#group", "stable-n1");
    await page.click("#rollback-go");
    await page.locator("#impact[aria-busy='false']").waitFor();
    const expected = `no group 'stable-n1' in fleet ${db} (groups: edge-a72, edge-n1, stable-a72)`;
    assert.deepEqual(await api("GET", "/impact?group=stable-n1&to=6.1"), {
      status: 404,
      body: { error: expected },
    });
    assert.deepEqual(await texts("#impact [role='alert']"), [expected]);
  });

  it("shows names from the inventory as text, never as markup", async () => {
    const name = `<img src=x onerror="document.title='pwned'">`;
    const profiles = (await api("GET", "/profiles")).body.profiles as { hash: string }[];
    const added = await api("POST", "/hosts", { group: name, profile: profiles[0]!.hash, hosts: ["odd-1"] });
    assert.equal(added.status, 201);
    await page.reload();
    await page.locator("#fleet-grid table").waitFor();
    assert.equal(await page.locator("#fleet-grid img, #group img").count(), 0);
    assert.ok((await texts("#fleet-grid .groups")).some((t) => t.includes(name)));
    assert.ok((await texts("#group option")).some((t) => t.startsWith(`${name} (`)));
    assert.equal(await page.title(), "guestabi fleet");
    assert.deepEqual(pageErrors, []);
  });
});
