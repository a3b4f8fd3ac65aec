/** decode / encode / fields / regs: the register model on the command line. */
import type { Command } from "commander";
import { InputTooLargeError, STDIN, readBounded } from "../formats/bounded-read.js";
import { editDistance } from "../formats/json-format.js";
import type { FieldValue, IdDescription, KernelGeneration, RegClass, RegId } from "../regs/index.js";
import {
  KERNEL_GENERATIONS,
  catalogIds,
  REG_CLASSES,
  decodeFields,
  describeId,
  isKernelGeneration,
  parseRegName,
} from "../regs/index.js";
import { formatTable, hex64, toJson } from "./output.js";
import { UsageError, command } from "./run-command.js";

/** 32 MiB: about 1.7 million ids of 19 bytes a line. */
const STDIN_ID_BYTES = 32 << 20;

async function readIdsFromStdin(): Promise<string[]> {
  let text: string;
  try {
    text = (await readBounded(STDIN, STDIN_ID_BYTES, "register ids")).toString("utf8");
  } catch (e) {
    if (e instanceof InputTooLargeError) throw new UsageError(e.message);
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new UsageError(`cannot read stdin: ${code}`);
    throw e;
  }
  return text
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim())
    .filter((l) => l.length > 0);
}

/**
 * Up to three catalog names nearest to `text` (case-insensitive), if any is near enough to be what
 * was meant: at most 2 edits, or 40% of the name (`ID_AA64PFR0` is 4 edits from `ID_AA64PFR0_EL1`).
 */
export function nearestRegNames(text: string): string[] {
  const want = text.trim().toUpperCase();
  let best = Math.max(2, Math.ceil(want.length * 0.4));
  let nearest: string[] = [];
  for (const name of new Set(catalogIds().map((id) => describeId(id).name))) {
    const d = editDistance(want, name.toUpperCase());
    if (d < best) [best, nearest] = [d, []];
    if (d === best) nearest.push(name);
  }
  return nearest.slice(0, 3);
}

/** Every argument is checked before anything is printed: bad input prints nothing on stdout. */
function parseAll(texts: string[]): RegId[] {
  return texts.map((t) => {
    try {
      return parseRegName(t);
    } catch (e) {
      const message = (e as Error).message;
      // A name, not a malformed id (0x12zz is no misspelt x12).
      const isName = message.startsWith("unknown register name") && /^\s*[A-Za-z_]/.test(t);
      const near = isName ? nearestRegNames(t) : [];
      throw new UsageError(near.length ? `${message} (did you mean ${near.join(", ")}?)` : message);
    }
  });
}

function parseValue(text: string): bigint {
  if (!/^(0x[0-9a-f]+|0b[01]+|\d+)$/i.test(text.trim()))
    throw new UsageError(`not a register value: '${text}'`);
  const v = BigInt(text.trim());
  if (v >= 1n << 64n) throw new UsageError(`register value wider than 64 bits: '${text}'`);
  return v;
}

function generationOption(text: string): KernelGeneration {
  if (!isKernelGeneration(text))
    throw new UsageError(`unknown kernel generation '${text}' (known: ${KERNEL_GENERATIONS.join(", ")})`);
  return text;
}

function fieldRows(fields: FieldValue[]): string[][] {
  return fields.map((f) => [
    f.name,
    f.msb === f.lsb ? `${f.msb}` : `${f.msb}:${f.lsb}`,
    "0x" +
      f.value.toString(16) +
      (f.signedValue !== undefined && f.signedValue < 0n ? ` (${f.signedValue})` : ""),
    (f.meaning ?? "") + (f.unexpected ? " (!)" : ""),
    f.policy
      ? `${f.policy.type}${f.policy.signed ? " signed" : ""} safe=0x${f.policy.safe.toString(16)}`
      : "",
  ]);
}

/** "  (selftests 5.10 to 7.2: CNTV_CTL_EL0)": a timer id's name in the kernel's get-reg-list.c. */
function selftestLabel(d: IdDescription): string {
  const kernels = d.selftestKernels ?? [];
  if (!d.selftestName || kernels.length === 0) return "";
  const at = kernels.map((k) => KERNEL_GENERATIONS.indexOf(k));
  const contiguous = at.every((i, n) => n === 0 || i === at[n - 1]! + 1);
  const which =
    kernels.length === 1
      ? kernels[0]
      : contiguous
        ? `${kernels[0]} to ${kernels[kernels.length - 1]}`
        : kernels.join(", ");
  return `  (selftests ${which}: ${d.selftestName})`;
}

export function registerRegsCommands(program: Command): void {
  program
    .command("decode")
    .description("name and split register ids (hex arguments, or one per line on stdin)")
    .argument("[ids...]", "register ids, e.g. 0x603000000013c020")
    .option("--json", "print JSON")
    .action(
      command(async (ids: string[], opts: { json?: boolean }) => {
        const texts = ids.length > 0 ? ids : await readIdsFromStdin();
        if (texts.length === 0) throw new UsageError("no register ids given (arguments or stdin)");
        const decoded = parseAll(texts).map(describeId);
        if (opts.json) return { stdout: toJson(decoded) };
        return {
          stdout: formatTable(
            ["ID", "NAME", "CLASS", "SIZE", "FIELDS"],
            decoded.map((d) => [
              d.id,
              d.name + (d.kernelName !== d.name ? `  (${d.kernelName})` : "") + selftestLabel(d),
              d.class,
              d.size,
              Object.entries(d.fields)
                .map(([k, v]) => `${k}=${v}`)
                .join(" ") + (d.note ? `  ${d.note}` : ""),
            ]),
          ),
        };
      }),
    );

  program
    .command("encode")
    .description("the id of a register name (ID_AA64PFR0_EL1, S3_0_C0_C4_0, pc, x3, vregs[5], ...)")
    .argument("<names...>", "register names")
    .option("--json", "print JSON")
    .action(
      command((names: string[], opts: { json?: boolean }) => {
        const described = parseAll(names).map(describeId);
        if (opts.json) return { stdout: toJson(described) };
        return {
          stdout: formatTable(
            ["NAME", "ID", "CLASS", "SIZE"],
            described.map((d) => [d.name, d.id, d.class, d.size]),
          ),
        };
      }),
    );

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
    .action(
      command((reg: string, valueText: string, opts: { kernel: string; json?: boolean }) => {
        const [id] = parseAll([reg]);
        const value = parseValue(valueText);
        const generation = generationOption(opts.kernel);
        const d = describeId(id!);
        const fields = decodeFields(id!, value, generation);
        if (!fields) throw new UsageError(`no field layout known for ${d.name} (${d.id})`);
        if (opts.json)
          return { stdout: toJson({ register: d.name, id: d.id, value, kernel: generation, fields }) };
        return {
          stdout:
            `${d.name} = ${hex64(value)}\n` +
            formatTable(["FIELD", "BITS", "VALUE", "MEANING", `POLICY (${generation})`], fieldRows(fields)),
        };
      }),
    );

  program
    .command("regs")
    .description("list the register catalog")
    .option("--class <class>", `only this class (${REG_CLASSES.filter((c) => c !== "unknown").join(", ")})`)
    .option("--json", "print JSON")
    .action(
      command((opts: { class?: string; json?: boolean }) => {
        if (opts.class !== undefined && !REG_CLASSES.includes(opts.class as RegClass))
          throw new UsageError(`unknown register class '${opts.class}' (known: ${REG_CLASSES.join(", ")})`);
        const rows = catalogIds()
          .map(describeId)
          .filter((d) => opts.class === undefined || d.class === opts.class);
        if (opts.json) return { stdout: toJson(rows) };
        return {
          stdout: formatTable(
            ["ID", "NAME", "CLASS", "SIZE"],
            rows.map((d) => [d.id, d.name, d.class, d.size]),
          ),
        };
      }),
    );
}
