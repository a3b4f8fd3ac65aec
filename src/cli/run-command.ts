/**
 * The one place where a command's outcome becomes an exit code and its errors one line on stderr.
 *
 * - 0: done; compatible, every host honours or can run it, restored, migrated.
 * - 1: the answer is no (the command's result says `ok: false`: incompatible, refused, did not
 *   arrive, migrated but the guest sees a change; its report is on stdout), or KVM refused or failed an operation (VmOpError, ProbeError,
 *   KvmError), or stdout/stderr cannot be written (a reader that went away, EPIPE, is no error: the
 *   command ends quietly with the code it has): one line on stderr, nothing on stdout.
 * - 2: bad input: usage (CommanderError, UsageError), unreadable or invalid files (input-files.ts turns
 *   them into UsageError, including inputs over their size limit and refused --out paths), profiles
 *   (ProfileError), fleets (FleetError), inventories and what is asked of them (InventoryError),
 *   register names (RegIdError), a host without KVM (KvmUnavailableError), a VM operation refused for
 *   its input (VmOpError kind "input", like a snapshot without vCPUs): one line on stderr, nothing on
 *   stdout, no file written.
 */
import { Command, CommanderError } from "commander";
import { FleetError } from "../fleet/fleet.js";
import { InventoryError } from "../inventory/backend.js";
import { ProfileError } from "../formats/profile.js";
import { toolVersion } from "../formats/version.js";
import { KvmError, KvmUnavailableError } from "../kvm/index.js";
import { ProbeError } from "../probe/probe.js";
import { RegIdError } from "../regs/index.js";
import { VmOpError } from "../vm/managed-vm.js";

/** A problem with what the user gave us: one line on stderr, exit code 2, nothing on stdout. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What a command produced: stdout text, notes for stderr, and whether the answer is yes. */
export interface CommandResult {
  stdout?: string | Uint8Array;
  /** One line each on stderr after stdout, "guestabi: " prefixed. */
  notes?: string[];
  /** false: exit code 1 (the report on stdout says why). Default true. */
  ok?: boolean;
}

const EXIT_NO = 1;
const EXIT_USAGE = 2;

const firstLine = (message: string): string => message.split("\n")[0]!;

/** Bad input (exit 2) as a UsageError, or undefined. */
function asUsageError(e: unknown): UsageError | undefined {
  if (e instanceof UsageError) return e;
  if (
    e instanceof RegIdError ||
    e instanceof ProfileError ||
    e instanceof FleetError ||
    e instanceof InventoryError ||
    e instanceof KvmUnavailableError ||
    (e instanceof VmOpError && e.kind === "input")
  )
    return new UsageError(e.message);
  return undefined;
}

/** KVM refused or failed an operation (exit 1). */
const isRefusal = (e: unknown): e is Error =>
  e instanceof VmOpError || e instanceof ProbeError || e instanceof KvmError;

/**
 * Wraps a command's action: prints its result and sets the exit code. A refusal by KVM is one line
 * and exit code 1 here; bad input propagates as UsageError (runCli prints it), so that nothing the
 * command computed reaches stdout.
 */
export function command<A extends unknown[]>(
  fn: (...args: A) => CommandResult | Promise<CommandResult>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    let r: CommandResult;
    try {
      r = await fn(...args);
    } catch (e) {
      const usage = asUsageError(e);
      if (usage) throw usage;
      if (!isRefusal(e)) throw e;
      process.stderr.write(`guestabi: ${firstLine(e.message)}\n`);
      process.exitCode = EXIT_NO;
      return;
    }
    if (r.stdout) process.stdout.write(r.stdout);
    for (const n of r.notes ?? []) process.stderr.write(`guestabi: ${n}\n`);
    if (r.ok === false) process.exitCode = EXIT_NO;
  };
}

function fail(message: string): never {
  process.stderr.write(`guestabi: ${firstLine(message)}\n`);
  process.exit(EXIT_USAGE);
}

/** The root command, set up before its subcommands (they inherit it) so that runCli reports usage errors. */
export function cliProgram(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .version(toolVersion(), "--version", "print guestabi's version")
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, outputError: () => undefined });
}

/**
 * A reader that goes away (`guestabi regs | head -1`: EPIPE) ends the command quietly, with the exit
 * code it already has; any other failure to write stdout or stderr is one line and exit code 1.
 */
function onOutputError(e: NodeJS.ErrnoException): void {
  if (e.code !== "EPIPE") {
    try {
      process.stderr.write(`guestabi: cannot write output: ${e.code ?? e.message}\n`);
    } catch {
      /* stderr itself is what failed */
    }
    process.exitCode = EXIT_NO;
  }
  process.exit();
}

/** Runs the program; usage errors are one line on stderr and exit code 2. */
export async function runCli(program: Command, argv: string[]): Promise<void> {
  process.stdout.on("error", onOutputError);
  process.stderr.on("error", onOutputError);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) process.exit(0); // --help, --version
      if (e.code === "commander.help") fail("no command given (see 'guestabi --help')");
      // Commander puts its "(Did you mean ...?)" on a second line: keep it, on the one line.
      fail(e.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " "));
    }
    const usage = asUsageError(e);
    if (usage) fail(usage.message);
    throw e;
  }
}
