/**
 * serve: the JSON API over the fleet inventory and its dashboard page (src/serve). Prints one line,
 * `guestabi serve: http://HOST:PORT/ (db: ...)`, then serves until SIGINT or SIGTERM, lets the requests
 * under way finish, closes the inventory and exits 0. Exit 2 with one line, before anything is served:
 * a bad --port or --host, a token that cannot be read or used, an inventory that cannot be opened (a
 * read-only server's must exist), an address that cannot be listened on (in use, not this machine's).
 */
import { isIP } from "node:net";
import type { Command } from "commander";
import { DEFAULT_INVENTORY } from "../inventory/store.js";
import { serve } from "../serve/serve.js";
import type { Serving } from "../serve/serve.js";
import { DEFAULT_HOST, DEFAULT_PORT } from "../serve/server.js";
import { TOKEN_ENV, TokenError } from "../serve/token.js";
import { UsageError, command } from "./run-command.js";

function portOption(text: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n > 65535)
    throw new UsageError(`bad --port '${text}' (0..65535; 0: a free port)`);
  return n;
}

function hostOption(text: string): string {
  if (text !== "localhost" && isIP(text) === 0)
    throw new UsageError(`bad --host '${text}' (an IP address such as 127.0.0.1 or ::1, or localhost)`);
  return text;
}

/** Errors of listen(2) that are the address given, not the server. */
const LISTEN_ERRORS = new Set(["EADDRINUSE", "EADDRNOTAVAIL", "EACCES"]);

interface ServeCommandOptions {
  db: string;
  port: number;
  host: string;
  tokenFile?: string;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("a JSON API over the fleet inventory, and its dashboard page")
    .option("--db <spec>", "the inventory: a SQLite file or a postgres:// URL", DEFAULT_INVENTORY)
    .option("--port <n>", "the TCP port (0: a free one)", portOption, DEFAULT_PORT)
    .option(
      "--host <addr>",
      "the address to listen on (another than loopback serves the fleet to the network)",
      hostOption,
      DEFAULT_HOST,
    )
    .option(
      "--token-file <file>",
      `the bearer token that allows changes through the API (else ${TOKEN_ENV}; neither: read-only)`,
    )
    .action(
      command(async (o: ServeCommandOptions) => {
        let server: Serving;
        try {
          server = await serve({
            db: o.db,
            host: o.host,
            port: o.port,
            ...(o.tokenFile !== undefined ? { tokenFile: o.tokenFile } : {}),
            onError: (line) => process.stderr.write(`guestabi serve: ${line}\n`),
          });
        } catch (e) {
          if (e instanceof TokenError) throw new UsageError(e.message);
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== undefined && LISTEN_ERRORS.has(code))
            throw new UsageError(`cannot listen on ${o.host} port ${o.port}: ${code}`);
          throw e;
        }
        process.stdout.write(
          `guestabi serve: ${server.url} (db: ${server.db}${server.readOnly ? "; read-only" : ""})\n`,
        );
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off("SIGINT", stop);
            process.off("SIGTERM", stop);
            resolve();
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
        });
        await server.close();
        return {};
      }),
    );
}
