/** decode / encode / fields / regs: the register model on the command line (regs-actions.ts runs them). */
import type { Command } from "commander";
import { KERNEL_GENERATIONS } from "../regs/catalog-types.js";
import { REG_CLASSES } from "../regs/id.js";
import { lazyCommand } from "./run-command.js";

const actions = () => import("./regs-actions.js");

export function registerRegsCommands(program: Command): void {
  program
    .command("decode")
    .description("name and split register ids (hex arguments, or one per line on stdin)")
    .argument("[ids...]", "register ids, e.g. 0x603000000013c020")
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "decode"));

  program
    .command("encode")
    .description("the id of a register name (ID_AA64PFR0_EL1, S3_0_C0_C4_0, pc, x3, vregs[5], ...)")
    .argument("<names...>", "register names")
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "encode"));

  program
    .command("fields")
    .description("split a register value into its fields, with meanings and ID-register policies")
    .argument("<register>", "register name or id")
    .argument("<value>", "64-bit value, e.g. 0x1101001021110222")
    .option(
      "--kernel <generation>",
      `kernel generation whose policies to show (${KERNEL_GENERATIONS.join(", ")})`,
      "7.2",
    )
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "fields"));

  program
    .command("regs")
    .description("list the register catalog")
    .option("--class <class>", `only this class (${REG_CLASSES.filter((c) => c !== "unknown").join(", ")})`)
    .option("--json", "print JSON")
    .action(lazyCommand(actions, "regs"));
}
