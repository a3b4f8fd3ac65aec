/**
 * Real Chromium for the dashboard's tests and its screenshot (scripts/dashboard-screenshot.mjs):
 * Debian's /usr/bin/chromium through playwright-core, headless, with a fresh profile directory that
 * is removed on close, and no traffic of its own (no updates, sync or background requests).
 * playwright-core drives it over a pipe: if this process dies, the browser loses its pipe and exits.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import type { BrowserContext } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Why the browser tests cannot run here, or undefined when they can. */
export function browserMissing(executable = CHROMIUM): string | undefined {
  return existsSync(executable)
    ? undefined
    : `${executable} is not installed (Debian: apt-get install chromium)`;
}

export interface Browser {
  context: BrowserContext;
  /** Closes the browser (its processes end with it) and removes its profile directory. */
  close(): Promise<void>;
}

/** Chromium with a fresh user-data directory and a fixed viewport. */
export async function launchChromium(
  viewport = { width: 1200, height: 900 },
  executable = CHROMIUM,
): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), "guestabi-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: executable,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport,
    });
    return {
      context,
      close: async () => {
        try {
          await context.close();
        } finally {
          await rm(profile, { recursive: true, force: true });
        }
      },
    };
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
}
