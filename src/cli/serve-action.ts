/** serve: what it does (serve-command.ts registers it). */
import { serve } from "../serve/serve.js";
import type { Serving } from "../serve/serve.js";
import { TokenError } from "../serve/token.js";
import { UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

/** Errors of listen(2) that are the address given, not the server. */
const LISTEN_ERRORS = new Set(["EADDRINUSE", "EADDRNOTAVAIL", "EACCES"]);

interface ServeCommandOptions {
  db: string;
  port: number;
  host: string;
  tokenFile?: string;
}

/** Serves until SIGINT or SIGTERM, then lets the requests under way finish and closes the inventory. */
export async function serveInventory(o: ServeCommandOptions): Promise<CommandResult> {
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
}
