/**
 * JSON text that is compact but readable, for committed documents: a value goes on one line when it
 * fits the width (a register reading, a trial), else it is broken up; arrays of plain strings/numbers
 * are filled several to a line. JSON.parse of the output equals JSON.parse(JSON.stringify(value)).
 */

const isPrimitive = (v: unknown) => v === null || typeof v !== "object";

/** Formats a JSON value (only JSON types: no bigint, no undefined inside arrays). */
export function formatJson(value: unknown, width = 110): string {
  return render(value, "", 0, width) + "\n";
}

/** `prefix` is the length of what precedes the value on its first line (indent + key). */
function render(value: unknown, indent: string, prefix: number, width: number): string {
  const flat = JSON.stringify(value);
  if (flat === undefined) throw new TypeError("formatJson: value has no JSON form");
  if (isPrimitive(value) || prefix + flat.length <= width) return flat;
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    if (value.every(isPrimitive)) return "[\n" + fill(value, inner, width) + "\n" + indent + "]";
    const items = value.map((v) => inner + render(v, inner, inner.length, width));
    return "[\n" + items.join(",\n") + "\n" + indent + "]";
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return "{}";
  const items = entries.map(([k, v]) => {
    const key = JSON.stringify(k) + ": ";
    return inner + key + render(v, inner, inner.length + key.length, width);
  });
  return "{\n" + items.join(",\n") + "\n" + indent + "}";
}

/** Primitive array items in rows of 8 when those fit (bit sweeps read by bit number), else packed. */
function fill(values: unknown[], indent: string, width: number): string {
  const items = values.map((v, i) => JSON.stringify(v) + (i < values.length - 1 ? "," : ""));
  const rows: string[] = [];
  for (let i = 0; i < items.length; i += 8) rows.push(indent + items.slice(i, i + 8).join(" "));
  if (rows.every((r) => r.length <= width)) return rows.join("\n");
  const lines: string[] = [];
  let line = "";
  for (const item of items) {
    if (line && indent.length + line.length + 1 + item.length > width) {
      lines.push(indent + line);
      line = item;
    } else line = line ? `${line} ${item}` : item;
  }
  if (line) lines.push(indent + line);
  return lines.join("\n");
}

/**
 * A value read from an untrusted document, for an error message: a short scalar as JSON, anything else
 * by its kind. Never serialises a structure, so a 10,000-deep nest or a huge array cannot overflow the
 * stack or flood the message.
 */
export function shownValue(v: unknown): string {
  if (v === undefined) return "missing";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object" && v !== null) return "an object";
  const text = JSON.stringify(v);
  return text.length > 40 ? text.slice(0, 37) + "..." : text;
}

/**
 * Levenshtein distance (insertions, deletions, substitutions), one row at a time: how far a misspelt
 * name or key in a command or document is from one the reader knows.
 */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}
