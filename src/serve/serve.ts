/**
 * `guestabi serve` as a library function: opens the inventory, reads the token and the page, and
 * starts the server (server.ts) with the API's routes (api.ts). Closing it closes the inventory too.
 */
import { apiRoutes } from "./api.js";
import { loadPage } from "./page.js";
import { startServer } from "./server.js";
import type { RunningServer } from "./server.js";
import { loadToken } from "./token.js";
import { openInventory } from "../inventory/store.js";

export interface ServeOptions {
  /** The inventory: a SQLite file or a postgres:// URL (default: guestabi.db). */
  db?: string;
  host?: string;
  port?: number;
  /** The bearer token's file; without it GUESTABI_TOKEN of `env`, else read-only. */
  tokenFile?: string;
  env?: NodeJS.ProcessEnv;
  maxBodyBytes?: number;
  onError?: (line: string) => void;
}

export interface Serving extends RunningServer {
  /** The inventory as messages name it. */
  db: string;
  readOnly: boolean;
}

/**
 * Serves an inventory. Read-only (no token), it must exist already: nothing is created for a server
 * that could never fill it. TokenError, InventoryError (bad input) and the listen error (EADDRINUSE)
 * are thrown before anything is served.
 */
export async function serve(o: ServeOptions = {}): Promise<Serving> {
  const token = await loadToken(o.tokenFile, o.env);
  const page = await loadPage();
  const inventory = await openInventory(o.db, { mustExist: token === undefined });
  try {
    const server = await startServer({
      routes: apiRoutes(inventory, { db: inventory.source, readOnly: token === undefined }),
      page,
      token,
      ...(o.host !== undefined ? { host: o.host } : {}),
      ...(o.port !== undefined ? { port: o.port } : {}),
      ...(o.maxBodyBytes !== undefined ? { maxBodyBytes: o.maxBodyBytes } : {}),
      ...(o.onError ? { onError: o.onError } : {}),
    });
    return {
      ...server,
      db: inventory.source,
      readOnly: token === undefined,
      close: async () => {
        await server.close();
        await inventory.close();
      },
    };
  } catch (e) {
    await inventory.close();
    throw e;
  }
}
