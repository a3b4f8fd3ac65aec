/**
 * Crash-safe file replacement: readers see the old file or the new one, never a torn one.
 */
import { randomBytes } from "node:crypto";
import { open, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Writes `data` to `path` atomically: a temp file in the same directory (rename is atomic only within a
 * filesystem), fsync, rename over the target, fsync the directory. On any error the temp file is
 * removed, the old file is left untouched and the error is rethrown. An existing file's permission bits
 * are kept. A symlink at `path` is replaced by the file, not followed.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const mode = await stat(path).then(
    (st) => st.mode & 0o7777,
    () => undefined,
  );
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
