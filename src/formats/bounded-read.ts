/**
 * Reading a whole input with a bound on its size, whatever the input is: a regular file (which may
 * grow while it is read, or whose stat size may lie, as /proc's do), a device (/dev/zero never ends),
 * a FIFO or pipe, or stdin. The bound is checked on the bytes actually read, never on a stat size, so
 * no input can make a reader run or allocate without end. A FIFO waits for its writer, as `cat` does.
 */
import { open } from "node:fs/promises";

/** An input larger than its limit: which input, which limit, and what kind of document it was read as. */
export class InputTooLargeError extends Error {
  override name = "InputTooLargeError";
  constructor(
    readonly source: string,
    readonly limit: number,
    readonly what: string,
  ) {
    super(`${source}: more than ${byteText(limit)}, the limit for ${what}`);
  }
}

/** A byte count as people read limits: "16 MiB", "1 KiB", "100 bytes". */
export function byteText(n: number): string {
  for (const [unit, size] of [
    ["GiB", 1 << 30],
    ["MiB", 1 << 20],
    ["KiB", 1 << 10],
  ] as const)
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  return `${n} bytes`;
}

/** Standard input, as the `source` of readBounded. */
export const STDIN = 0;

const CHUNK = 1 << 20;

/**
 * Every byte of `source` (a path, or STDIN), at most `limit` of them: InputTooLargeError (naming
 * `what`, e.g. "a host profile") as soon as one more arrives. File-system errors propagate as they are
 * (ENOENT, EISDIR, ...) with their path.
 */
export async function readBounded(
  source: string | typeof STDIN,
  limit: number,
  what: string,
): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  const take = (bytes: Buffer): void => {
    total += bytes.length;
    if (total > limit) throw new InputTooLargeError(source === STDIN ? "stdin" : source, limit, what);
    parts.push(bytes);
  };
  if (source === STDIN) {
    // process.stdin handles each kind of stdin (file, device, pipe, terminal, a non-blocking pipe).
    try {
      for await (const chunk of process.stdin) take(chunk as Buffer);
    } finally {
      process.stdin.destroy();
    }
  } else {
    const fh = await open(source, "r");
    try {
      const scratch = Buffer.allocUnsafe(CHUNK);
      for (;;) {
        // Never more than one byte past the limit: that byte is what proves the input too large.
        const { bytesRead } = await fh.read(scratch, 0, Math.min(CHUNK, limit - total + 1));
        if (bytesRead === 0) break;
        take(Buffer.from(scratch.subarray(0, bytesRead)));
      }
    } finally {
      await fh.close();
    }
  }
  return Buffer.concat(parts, total);
}
