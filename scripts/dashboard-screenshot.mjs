#!/usr/bin/env node
// The dashboard's screenshot for the README (docs/dashboard.png, 1200 x 900): the built-in example
// fleet imported into a temporary inventory, `guestabi serve` on it, the page in headless Chromium with
// the rollout to 7.2 in 3 waves compared (the fleet grid and the chart fill the first screen). Run
// after `npm run build`:
//   node scripts/dashboard-screenshot.mjs [OUT.png]
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const dist = new URL("../dist/", import.meta.url);
const { exampleFleet } = await import(new URL("fleet/plan.js", dist));
const { importFleet } = await import(new URL("inventory/import-fleet.js", dist));
const { openInventory } = await import(new URL("inventory/store.js", dist));
const { serve } = await import(new URL("serve/serve.js", dist));
const { browserMissing, launchChromium } = await import(new URL("serve/testing/browser.js", dist));

const VIEWPORT = { width: 1200, height: 900 };
const out = process.argv[2] ?? fileURLToPath(new URL("../docs/dashboard.png", import.meta.url));
const missing = browserMissing();
if (missing) {
  console.error(`dashboard-screenshot: ${missing}`);
  process.exit(2);
}

const dir = await mkdtemp(join(tmpdir(), "guestabi-screenshot-"));
try {
  const db = join(dir, "example.db");
  const inventory = await openInventory(db);
  try {
    await importFleet(inventory, await exampleFleet());
  } finally {
    await inventory.close();
  }
  const server = await serve({ db, port: 0, env: {} });
  try {
    const browser = await launchChromium(VIEWPORT);
    try {
      const page = await browser.context.newPage();
      await page.goto(server.url);
      await page.locator("#fleet-grid table").waitFor();
      await page.selectOption("#rollout-to", "7.2");
      await page.fill("#rollout-waves", "3");
      await page.click("#rollout-go");
      await page.locator("#rollout-chart[aria-busy='false']").waitFor();
      await page.locator("#rollout-svg").waitFor();
      await writeFile(out, await page.screenshot());
      console.log(`wrote ${out}`);
    } finally {
      await browser.close();
    }
  } finally {
    await server.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
