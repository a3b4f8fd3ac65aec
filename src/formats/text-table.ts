/** Plain-text tables: columns padded to their widest cell, the last column left ragged. */

/** Each row as one line, columns separated by two spaces; widths from every row, of any count. */
export function alignColumns(rows: readonly (readonly string[])[], indent = ""): string[] {
  const widths: number[] = [];
  // A loop, not Math.max(...column): a spread of 200,000 cells overflows the call stack.
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (r) =>
      indent +
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join("  ")
        .trimEnd(),
  );
}
