/**
 * Crash-safe file replacement: readers see the old file or the new one, never a torn one.
 *
 * The temporary file is `.NAME.guestabi-PID-RANDOM.tmp` in the target's directory (NAME cut so that the
 * whole stays within NAME_MAX, RANDOM 12 hex digits). A writer killed before its rename leaves that
 * file and an untouched target; such a file whose PID is not a running guestabi is garbage, and
 * `rm DIR/.*.guestabi-*.tmp` (with no guestabi writing into DIR) removes every one.
 */
import { randomBytes } from "node:crypto";
import { lstat, open, rename, rm, stat } from "node:fs/promises";
import type { Stats } from "node:fs";
import { basename, dirname, join } from "node:path";

/** The longest file name Linux file systems take (NAME_MAX), in bytes. */
const NAME_MAX = 255;

/** A target that is not a regular file (or a symlink to one, or absent): it is never replaced. */
export class OutputTargetError extends Error {
  override name = "OutputTargetError";
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isFIFO()) return "a FIFO";
  return "a socket"; // the one kind left: lstat's symlinks are followed before this
}

const statOrNull = (f: (p: string) => Promise<Stats>, path: string): Promise<Stats | null> =>
  f(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === "ENOENT") return null;
    throw e;
  });

/**
 * Refuses to replace anything but a regular file: a rename over a device node, FIFO or socket would
 * swap it for a regular file (as root, `/dev/null` for everyone), over a directory it fails late. A
 * symlink is replaced (not followed), but not one that leads to such a node. Returns the target's
 * stat (following a symlink), or null when there is none.
 */
export async function checkOutputTarget(path: string): Promise<Stats | null> {
  const link = await statOrNull(lstat, path);
  if (link === null) return null;
  const target = link.isSymbolicLink() ? await statOrNull(stat, path) : link;
  if (target !== null && !target.isFile())
    throw new OutputTargetError(`it is ${kindOf(target)}, not a regular file`);
  return target;
}

/** The temporary name for `path`'s name: see the module comment. */
function tempName(name: string): string {
  const suffix = `.guestabi-${process.pid}-${randomBytes(6).toString("hex")}.tmp`;
  let prefix = "." + name;
  // Cut whole code points until the name fits NAME_MAX bytes (a name may be multi-byte UTF-8).
  while (Buffer.byteLength(prefix + suffix) > NAME_MAX) prefix = [...prefix].slice(0, -1).join("");
  return prefix + suffix;
}

/**
 * Writes `data` to `path` atomically: a temp file in the same directory (rename is atomic only within a
 * filesystem), fsync, rename over the target, fsync the directory. On any error the temp file is
 * removed, the old file is left untouched and the error is rethrown. An existing file's permission bits
 * are kept. A target that is not a regular file is refused (OutputTargetError, checkOutputTarget).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const existing = await checkOutputTarget(path);
  const mode = existing === null ? undefined : existing.mode & 0o7777;
  const tmp = join(dir, tempName(basename(path)));
  let created = false;
  try {
    const fh = await open(tmp, "wx", mode ?? 0o666);
    created = true;
    try {
      await fh.writeFile(data);
      if (mode !== undefined) await fh.chmod(mode); // open's mode is filtered by the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    created = false;
  } catch (e) {
    if (created) await rm(tmp, { force: true }).catch(() => undefined); // keep the original error
    throw e;
  }
  // Make the rename itself durable. Past this point the new file is in place, so a filesystem that
  // refuses to fsync a directory must not turn the write into a reported failure.
  try {
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* best effort */
  }
}
