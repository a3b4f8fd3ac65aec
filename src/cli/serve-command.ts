/**
 * serve: the JSON API over the fleet inventory and its dashboard page (src/serve). Prints one line,
 * `guestabi serve: http://HOST:PORT/ (db: ...)`, then serves until SIGINT or SIGTERM, lets the requests
 * under way finish, closes the inventory and exits 0. Exit 2 with one line, before anything is served:
 * a bad --port or --host, a token that cannot be read or used, an inventory that cannot be opened (a
 * read-only server's must exist), an address that cannot be listened on (in use, not this machine's).
 * serve-action.ts runs it.
 */
import type { Command } from "commander";
import { DEFAULT_INVENTORY } from "../inventory/spec.js";
import { DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV } from "../serve/defaults.js";
import { lazyCommand, optionParsers } from "./run-command.js";

export function registerServeCommand(program: Command): void {
  const parse = optionParsers(program);
  program
    .command("serve")
    .description("a JSON API over the fleet inventory, and its dashboard page")
    .option("--db <spec>", "the inventory: a SQLite file or a postgres:// URL", DEFAULT_INVENTORY)
    .option("--port <n>", "the TCP port (0: a free one)", parse("portOption"), DEFAULT_PORT)
    .option(
      "--host <addr>",
      "the address to listen on (another than loopback serves the fleet to the network)",
      parse("hostOption"),
      DEFAULT_HOST,
    )
    .option(
      "--token-file <file>",
      `the bearer token that allows changes through the API (else ${TOKEN_ENV}; neither: read-only)`,
    )
    .action(lazyCommand(() => import("./serve-action.js"), "serveInventory"));
}
