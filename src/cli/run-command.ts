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
import { createRequire } from "node:module";
import type * as commander from "commander";
import { toolVersion } from "../formats/version.js";

// Commander is CommonJS: required directly it loads in half the time its ESM wrapper takes to import.
const { Command, CommanderError } = createRequire(import.meta.url)("commander") as typeof commander;

/** The --out of every command that takes one: "-" is stdout. */
export const STDOUT_PATH = "-";

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

/**
 * The library's error classes, imported when a command fails rather than at start-up: most of their
 * modules load zod or the simulator (and the one whose error it is has been loaded by then).
 */
async function libraryErrors() {
  const [fleet, inventory, profile, kvm, probe, regs, vm] = await Promise.all([
    import("../fleet/fleet.js"),
    import("../inventory/backend.js"),
    import("../formats/profile.js"),
    import("../kvm/errors.js"),
    import("../probe/probe.js"),
    import("../regs/id.js"),
    import("../vm/managed-vm.js"),
  ]);
  return {
    FleetError: fleet.FleetError,
    InventoryError: inventory.InventoryError,
    ProfileError: profile.ProfileError,
    KvmError: kvm.KvmError,
    KvmUnavailableError: kvm.KvmUnavailableError,
    ProbeError: probe.ProbeError,
    RegIdError: regs.RegIdError,
    VmOpError: vm.VmOpError,
  };
}

/** Bad input (exit 2) as a UsageError, or undefined. */
async function asUsageError(e: unknown): Promise<UsageError | undefined> {
  if (e instanceof UsageError) return e;
  if (!(e instanceof Error)) return undefined;
  const l = await libraryErrors();
  if (
    e instanceof l.RegIdError ||
    e instanceof l.ProfileError ||
    e instanceof l.FleetError ||
    e instanceof l.InventoryError ||
    e instanceof l.KvmUnavailableError ||
    (e instanceof l.VmOpError && e.kind === "input")
  )
    return new UsageError(e.message);
  return undefined;
}

/** KVM refused or failed an operation (exit 1). */
async function isRefusal(e: Error): Promise<boolean> {
  const l = await libraryErrors();
  return e instanceof l.VmOpError || e instanceof l.ProbeError || e instanceof l.KvmError;
}

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
      const usage = await asUsageError(e);
      if (usage) throw usage;
      if (!(e instanceof Error) || !(await isRefusal(e))) throw e;
      process.stderr.write(`guestabi: ${firstLine(e.message)}\n`);
      process.exitCode = EXIT_NO;
      return;
    }
    if (r.stdout) process.stdout.write(r.stdout);
    for (const n of r.notes ?? []) process.stderr.write(`guestabi: ${n}\n`);
    if (r.ok === false) process.exitCode = EXIT_NO;
  };
}

/** A command action: its arguments and options as commander passes them, its result. */
type Action = (...args: never[]) => CommandResult | Promise<CommandResult>;

/**
 * `command` for an action whose code is loaded when the command runs: `load` imports its module (like
 * `() => import("./regs-actions.js")`), `name` is the function there. Start-up and --help load none
 * of the commands' code, only their registration.
 */
export function lazyCommand<K extends string, M extends Record<K, Action>>(
  load: () => Promise<M>,
  name: K,
): (...args: Parameters<M[K]>) => Promise<void> {
  return command(async (...args: Parameters<M[K]>) => (await load())[name](...args));
}

/** options.ts's option parsers, by name. */
type OptionParsers = typeof import("./options.js");
type ParserName = {
  [K in keyof OptionParsers]: OptionParsers[K] extends (text: string) => unknown ? K : never;
}[keyof OptionParsers];

let loadedParsers: OptionParsers | undefined;
const commandsLoadingParsers = new WeakSet<commander.Command>();

/**
 * Loads options.ts before `parent` dispatches to a subcommand that has a parsed option (a
 * preSubcommand hook: the program runs with parseAsync); a group of subcommands gets the same hook,
 * so that `inventory --help` loads nothing more than `--help` does.
 */
function loadParsersBeforeSubcommands(parent: commander.Command): void {
  if (commandsLoadingParsers.has(parent)) return;
  commandsLoadingParsers.add(parent);
  parent.hook("preSubcommand", async (_parent, sub) => {
    if (sub.commands.length > 0) loadParsersBeforeSubcommands(sub);
    if (sub.options.some((o) => o.parseArg)) loadedParsers ??= await import("./options.js");
  });
}

/**
 * The option parsers of options.ts for the commands under `program` (subcommands of its groups too),
 * by name, without loading options.ts at start-up: commander calls a parser synchronously while it
 * parses a command's options, so options.ts is imported just before the command parses them.
 */
export function optionParsers(
  program: commander.Command,
): <K extends ParserName>(name: K) => (text: string) => ReturnType<OptionParsers[K]> {
  loadParsersBeforeSubcommands(program);
  return (name) => (text) => loadedParsers![name](text) as ReturnType<OptionParsers[typeof name]>;
}

function fail(message: string): never {
  process.stderr.write(`guestabi: ${firstLine(message)}\n`);
  process.exit(EXIT_USAGE);
}

/** The root command, set up before its subcommands (they inherit it) so that runCli reports usage errors. */
export function cliProgram(name: string, description: string): commander.Command {
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
export async function runCli(program: commander.Command, argv: string[]): Promise<void> {
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
    const usage = await asUsageError(e);
    if (usage) fail(usage.message);
    throw e;
  }
}
