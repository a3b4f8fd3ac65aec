/**
 * Test helper: the kernel trees of scripts/kernel-sources.sh, when present. Tests that cross-check
 * against the headers skip themselves when a tree is missing.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function ksrcDir(gen: string): string {
  const cache = process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi");
  return path.join(cache, "ksrc", gen);
}

/** The text of a file of a generation's tree, or undefined when the tree is not there. */
export function readKsrc(gen: string, rel: string): string | undefined {
  const file = path.join(ksrcDir(gen), rel);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
}

/** `#define NAME value` lines of a header (comments stripped, continuations joined), last one wins. */
export function headerDefines(text: string): Map<string, string> {
  const src = text
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/\/\/.*/g, "")
    .replace(/\\\n/g, " ");
  const out = new Map<string, string>();
  for (const line of src.split("\n")) {
    const m = /^\s*#\s*define\s+(\w+)(?!\()\s+(.*?)\s*$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}
