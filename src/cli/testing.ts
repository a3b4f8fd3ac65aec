/** Runs the built guestabi CLI as a user would, for the end-to-end tests. */
import { spawnSync } from "node:child_process";
import type { SpawnSyncOptionsWithStringEncoding } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("./main.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `guestabi ARGS`. Its stdin is `input` (text), or the file descriptor `{ fd }` (like an open
 * /dev/zero: `guestabi decode < /dev/zero`); `env`: variables added to this process's environment (like
 * GUESTABI_SIM_FAULTS).
 */
export function guestabi(
  args: string[],
  input?: string | { fd: number },
  env?: Record<string, string>,
): CliResult {
  const options: SpawnSyncOptionsWithStringEncoding =
    typeof input === "object"
      ? { encoding: "utf8", stdio: [input.fd, "pipe", "pipe"], maxBuffer: Infinity }
      : { encoding: "utf8", input: input ?? "", maxBuffer: Infinity };
  if (env) options.env = { ...process.env, ...env };
  const r = spawnSync(process.execPath, [CLI, ...args], options);
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
