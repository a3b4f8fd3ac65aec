/**
 * pin / save / restore / migrate: the VMM side, on the simulator (`--sim KERNEL[/CPU]`, like
 * 7.2/neoverse-n1; the CPU defaults to backends.ts's).
 *
 * Exit codes (run-command.ts): 2 with one line on stderr and nothing on stdout for bad input (unknown
 * kernel, unreadable template or snapshot file); for pin and save, 1 with one line when KVM refuses
 * (the register and errno); for restore and migrate, the outcome on stdout either way, exit code 1
 * when the VM did not arrive (refused by the check, or a KVM failure: the destination VM is
 * destroyed), and for migrate also when it arrived but its guest sees a difference over the VMM's
 * conduit (MIGRATED WITH GUEST-VIEW CHANGES); 0 otherwise.
 */
import type { Command } from "commander";
import { migrateOnSim, pinOnSim, restoreOnSim, saveOnSim } from "../fleet/sim-ops.js";
import { encodeSnapshot } from "../formats/snapshot-binary.js";
import { parseSimSpec, simText, withSim, withSims } from "./backends.js";
import type { SimSpec } from "./backends.js";
import {
  STDOUT_PATH,
  checkOutput,
  readSnapshotInput,
  readTemplateFile,
  refuseTwoStdouts,
  writeOutput,
} from "./input-files.js";
import { vcpusOption, vmOptions } from "./options.js";
import { toJson } from "./output.js";
import { UsageError, command } from "./run-command.js";
import { migrateOutcome, migrationUnseen, pinJson, pinText, restoreOutcome } from "./vm-format.js";

export function registerVmCommands(program: Command): void {
  program
    .command("pin")
    .description("pin a new simulated VM to an ABI template and print the read-back verification")
    .requiredOption("--template <file>", "ABI template (guestabi-abi-template JSON)")
    .requiredOption("--sim <kernel[/cpu]>", "the simulated host, e.g. 7.2/neoverse-n1", parseSimSpec)
    .option("--vcpus <n>", "vCPUs to create", vcpusOption, 1)
    .option("--json", "print JSON")
    .action(
      command(async (o: { template: string; sim: SimSpec; vcpus: number; json?: boolean }) => {
        const template = await readTemplateFile(o.template);
        const r = withSim(o.sim, (host) => pinOnSim(host, template, o.vcpus));
        return {
          stdout: (o.json ? pinJson : pinText)(o.sim, template, o.vcpus, r),
        };
      }),
    );

  vmOptions(
    program
      .command("save")
      .description(
        "start a VM on the simulator (host defaults, or pinned to a template) and write its snapshot",
      )
      .requiredOption("--sim <kernel[/cpu]>", "the simulated host", parseSimSpec)
      .requiredOption(
        "--out <file>",
        "snapshot file to write (atomically; '-': stdout, the report to stderr)",
      )
      .option("--template <file>", "pin the VM to this ABI template (default: the host's defaults)"),
  )
    .option("--format <encoding>", "binary or json", "binary")
    .option("--json", "print JSON")
    .action(
      command(
        async (o: {
          sim: SimSpec;
          out: string;
          template?: string;
          features: number[];
          vcpus: number;
          format: string;
          json?: boolean;
        }) => {
          const format = o.format;
          if (format !== "binary" && format !== "json")
            throw new UsageError(`bad --format '${format}' (binary, json)`);
          const toStdout = o.out === STDOUT_PATH;
          refuseTwoStdouts(o.out, o.json);
          if (toStdout && format === "binary" && process.stdout.isTTY)
            throw new UsageError(
              "not writing a binary snapshot to a terminal (redirect stdout, or --format json)",
            );
          const inputs = o.template ? [o.template] : [];
          await checkOutput(o.out, inputs);
          const template = o.template ? await readTemplateFile(o.template) : undefined;
          const note = template ? `pinned to ${template.name ?? o.template}` : "host defaults";
          const snapshot = withSim(o.sim, (host) =>
            saveOnSim(host, { template, vcpus: o.vcpus, features: o.features }, note),
          );
          const written = await writeOutput(o.out, encodeSnapshot(snapshot, format), inputs);
          const regs = snapshot.vcpus.reduce((n, v) => n + v.regs.size, 0);
          const report = `saved ${snapshot.vcpus.length} vCPU(s), ${regs} registers, from sim ${simText(o.sim)} to ${toStdout ? "stdout" : o.out} (${format})`;
          if (toStdout) return { ...written, notes: [report] };
          const json = {
            file: o.out,
            format,
            sim: simText(o.sim),
            vcpus: snapshot.vcpus.length,
            registers: regs,
          };
          return {
            stdout: o.json ? toJson(json) : report + "\n",
          };
        },
      ),
    );

  program
    .command("restore")
    .description("restore a snapshot file on the simulator: check, write, read back; print the outcome")
    .requiredOption("--snapshot <file>", "snapshot file (binary or JSON)")
    .requiredOption("--sim <kernel[/cpu]>", "the simulated destination", parseSimSpec)
    .option("--json", "print JSON")
    .action(
      command(async (o: { snapshot: string; sim: SimSpec; json?: boolean }) => {
        const snapshot = await readSnapshotInput(o.snapshot);
        const a = withSim(o.sim, (host) => restoreOnSim(snapshot, host));
        return { stdout: restoreOutcome(Boolean(o.json), o.snapshot, o.sim, a), ok: a.arrived };
      }),
    );

  vmOptions(
    program
      .command("migrate")
      .description(
        "on the simulator: start a VM on one host, save it, restore it on another; print the outcome",
      )
      .requiredOption("--from <kernel[/cpu]>", "the source host", parseSimSpec)
      .requiredOption("--to <kernel[/cpu]>", "the destination host", parseSimSpec)
      .option("--template <file>", "pin the VM to this ABI template (default: the source host's defaults)"),
  )
    .option("--json", "print JSON")
    .action(
      command(
        async (o: {
          from: SimSpec;
          to: SimSpec;
          template?: string;
          features: number[];
          vcpus: number;
          json?: boolean;
        }) => {
          const template = o.template ? await readTemplateFile(o.template) : undefined;
          const m = withSims([o.from, o.to], ([from, to]) =>
            migrateOnSim(from!, to!, { template, vcpus: o.vcpus, features: o.features }),
          );
          const label = template ? (template.name ?? o.template) : undefined;
          return {
            stdout: migrateOutcome(Boolean(o.json), o.from, o.to, label, m),
            ok: migrationUnseen(m),
          };
        },
      ),
    );
}
