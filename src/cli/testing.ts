/** Runs the built guestabi CLI as a user would, for the end-to-end tests. */
import assert from "node:assert/strict";
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

/** A command that worked: exit 0, nothing on stderr. Returns its stdout. */
export function succeeded(r: CliResult): string {
  assert.equal(r.stderr, "");
  assert.equal(r.code, 0);
  return r.stdout;
}

/** A refusal: exit 2, one line on stderr, nothing on stdout. Returns the line. */
export function refusal(r: CliResult): string {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^guestabi: [^\n]+\n$/);
  return r.stderr.slice("guestabi: ".length, -1);
}

/** The commands a help text lists (its "Commands:" section), without `help`. */
function listedCommands(help: string): string[] {
  const section = help.split("\nCommands:\n")[1];
  if (section === undefined) return [];
  return [...section.matchAll(/^ {2}(\S+)/gm)].map((m) => m[1]!).filter((c) => c !== "help");
}

/**
 * `guestabi --help` and `guestabi COMMAND... --help` of every command and subcommand it lists, each
 * after a "$ guestabi ... --help" line: the transcript src/cli/testdata/help.txt holds. `cli`: the
 * main.js to run (main's build, when regenerating the committed transcript from it). After a
 * deliberate change to the help:
 *   npm run build && node --input-type=module \
 *     -e "import { helpTranscript } from './dist/cli/testing.js'; process.stdout.write(helpTranscript())" \
 *     > src/cli/testdata/help.txt
 */
export function helpTranscript(cli = CLI): string {
  const help = (path: string[]) =>
    spawnSync(process.execPath, [cli, ...path, "--help"], { encoding: "utf8" }).stdout;
  const transcript = (path: string[]): string[] => {
    const text = help(path);
    return [
      `$ ${["guestabi", ...path, "--help"].join(" ")}\n${text}`,
      ...listedCommands(text).flatMap((c) => transcript([...path, c])),
    ];
  };
  return transcript([]).join("");
}
