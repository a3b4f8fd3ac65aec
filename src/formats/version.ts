/** guestabi's own version, from the package.json two levels above the compiled module (dist/formats/). */
import fs from "node:fs";

let cached: string | undefined;

export function toolVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
        version?: unknown;
      };
      cached = typeof pkg.version === "string" ? pkg.version.slice(0, 64) : "unknown";
    } catch {
      cached = "unknown";
    }
  }
  return cached;
}
