/**
 * decode / encode / fields / regs: what they do (regs-commands.ts registers them). The register model's
 * modules themselves, not its barrel (regs/index.ts), and those only one command or an error needs
 * (field layouts, the list of every id, the edit distance) imported there: naming ids loads no more.
 */
import { KERNEL_GENERATIONS, isKernelGeneration } from "../regs/catalog.js";
import type { KernelGeneration } from "../regs/catalog.js";
import { describeId } from "../regs/describe.js";
import type { IdDescription } from "../regs/describe.js";
import type { FieldValue } from "../regs/fields.js";
import { REG_CLASSES } from "../regs/id.js";
import type { RegClass, RegId } from "../regs/id.js";
import { parseRegName } from "../regs/names.js";
import { formatTable, hex64, toJson } from "./output.js";
import { UsageError } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

/** 32 MiB: about 1.7 million ids of 19 bytes a line. */
const STDIN_ID_BYTES = 32 << 20;

async function readIdsFromStdin(): Promise<string[]> {
  // Imported here: only `decode` without arguments reads stdin.
  const { InputTooLargeError, STDIN, readBounded } = await import("../formats/bounded-read.js");
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
export async function nearestRegNames(text: string): Promise<string[]> {
  const [{ catalogIds }, { editDistance }] = await Promise.all([
    import("../regs/catalog-ids.js"),
    import("../formats/json-format.js"),
  ]);
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
async function parseAll(texts: string[]): Promise<RegId[]> {
  const ids: RegId[] = [];
  for (const t of texts) {
    try {
      ids.push(parseRegName(t));
    } catch (e) {
      const message = (e as Error).message;
      // A name, not a malformed id (0x12zz is no misspelt x12).
      const isName = message.startsWith("unknown register name") && /^\s*[A-Za-z_]/.test(t);
      const near = isName ? await nearestRegNames(t) : [];
      throw new UsageError(near.length ? `${message} (did you mean ${near.join(", ")}?)` : message);
    }
  }
  return ids;
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

interface JsonOption {
  json?: boolean;
}

export async function decode(ids: string[], opts: JsonOption): Promise<CommandResult> {
  const texts = ids.length > 0 ? ids : await readIdsFromStdin();
  if (texts.length === 0) throw new UsageError("no register ids given (arguments or stdin)");
  const decoded = (await parseAll(texts)).map(describeId);
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
}

export async function encode(names: string[], opts: JsonOption): Promise<CommandResult> {
  const described = (await parseAll(names)).map(describeId);
  if (opts.json) return { stdout: toJson(described) };
  return {
    stdout: formatTable(
      ["NAME", "ID", "CLASS", "SIZE"],
      described.map((d) => [d.name, d.id, d.class, d.size]),
    ),
  };
}

export async function fields(
  reg: string,
  valueText: string,
  opts: { kernel: string; json?: boolean },
): Promise<CommandResult> {
  const [id] = await parseAll([reg]);
  const value = parseValue(valueText);
  const generation = generationOption(opts.kernel);
  const d = describeId(id!);
  const { decodeFields } = await import("../regs/fields.js");
  const values = decodeFields(id!, value, generation);
  if (!values) throw new UsageError(`no field layout known for ${d.name} (${d.id})`);
  if (opts.json)
    return { stdout: toJson({ register: d.name, id: d.id, value, kernel: generation, fields: values }) };
  return {
    stdout:
      `${d.name} = ${hex64(value)}\n` +
      formatTable(["FIELD", "BITS", "VALUE", "MEANING", `POLICY (${generation})`], fieldRows(values)),
  };
}

export async function regs(opts: { class?: string; json?: boolean }): Promise<CommandResult> {
  if (opts.class !== undefined && !REG_CLASSES.includes(opts.class as RegClass))
    throw new UsageError(`unknown register class '${opts.class}' (known: ${REG_CLASSES.join(", ")})`);
  const { catalogIds } = await import("../regs/catalog-ids.js");
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
}
