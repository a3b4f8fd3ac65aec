/** Runs the built guestabi CLI as a user would, for the end-to-end tests. */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("./main.js", import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `env`: variables added to this process's environment (like GUESTABI_SIM_FAULTS). */
export function guestabi(args: string[], input?: string, env?: Record<string, string>): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    input: input ?? "",
    encoding: "utf8",
    ...(env ? { env: { ...process.env, ...env } } : {}),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
