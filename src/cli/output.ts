/** Output helpers shared by the commands: aligned tables and JSON with bigints. */

/** Columns padded to their widest cell (a loop: any number of rows, no spread into Math.max). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h) => h.length);
  for (const r of rows) widths.forEach((w, i) => (widths[i] = Math.max(w, (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...rows.map(line)].join("\n") + "\n";
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
