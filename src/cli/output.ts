/** Output helpers shared by the commands: aligned tables and JSON with bigints. */
import { alignColumns } from "../formats/text-table.js";

/** A header row and rows, columns padded to their widest cell. */
export function formatTable(headers: string[], rows: string[][]): string {
  return alignColumns([headers, ...rows]).join("\n") + "\n";
}

/** JSON with bigints as 0x-prefixed hex strings, the form guestabi's files use for register values. */
export function toJson(value: unknown): string {
  return (
    JSON.stringify(
      value,
      (_key, v: unknown) =>
        typeof v === "bigint" ? "0x" + v.toString(16) : v instanceof Uint8Array ? hexBytes(v) : v,
      2,
    ) + "\n"
  );
}

function hexBytes(bytes: Uint8Array): string {
  return "0x" + Buffer.from(bytes).toString("hex");
}

export function hex64(v: bigint): string {
  return "0x" + v.toString(16).padStart(16, "0");
}
