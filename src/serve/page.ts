/**
 * The dashboard's files (page/: index.html, app.js, style.css, favicon.svg; no build step, copied next to
 * this module by `npm run build`), read once when the server starts and served from memory.
 */
import { readFile } from "node:fs/promises";

export interface PageFile {
  type: string;
  body: Buffer;
}

/** URL path -> file name in page/, and its content type. */
const PAGE_FILES: readonly { paths: string[]; file: string; type: string }[] = [
  { paths: ["/", "/index.html"], file: "index.html", type: "text/html; charset=utf-8" },
  { paths: ["/app.js"], file: "app.js", type: "text/javascript; charset=utf-8" },
  { paths: ["/style.css"], file: "style.css", type: "text/css; charset=utf-8" },
  { paths: ["/favicon.svg"], file: "favicon.svg", type: "image/svg+xml" },
];

/** The page's files by URL path. */
export async function loadPage(
  dir: URL = new URL("./page/", import.meta.url),
): Promise<ReadonlyMap<string, PageFile>> {
  const out = new Map<string, PageFile>();
  for (const f of PAGE_FILES) {
    const body = await readFile(new URL(f.file, dir));
    for (const p of f.paths) out.set(p, { type: f.type, body });
  }
  return out;
}
