#!/usr/bin/env node
// Produce an arm64-ready node_modules for the guest from a project installed on this x86-64 host:
//   node lab/arm64-modules.mjs PROJECT_DIR OUT_DIR      -> OUT_DIR/node_modules
// Copies the production dependency tree (npm ls --omit=dev), drops host-only native packages, and
// adds @koromix/koffi-linux-arm64 beside every koffi. Why: koffi 3 loads its native code with
// require('@koromix/koffi-linux-arm64') (an optional dependency npm only installs for the host's
// cpu), whose index.js picks linux_arm64/koffi.node (glibc) or musl_arm64/koffi.node; koffi then
// refuses it unless its version equals koffi's own ("Mismatched native Koffi modules").
// Other packages with x86-64 .node files are reported: they cannot load in the guest.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const [project, outDir] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!project || !outDir) {
  console.error("usage: node lab/arm64-modules.mjs PROJECT_DIR OUT_DIR");
  process.exit(2);
}
const die = (msg) => {
  console.error(`lab: error: ${msg}`);
  process.exit(1);
};
const cache = path.join(process.env.GUESTABI_CACHE || path.join(os.homedir(), ".cache/guestabi"), "lab");

const pkgJson = JSON.parse(fs.readFileSync(path.join(project, "package.json"), "utf8"));
const hasDeps = Object.keys(pkgJson.dependencies ?? {}).length > 0;
const out = path.join(outDir, "node_modules");
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
if (!hasDeps) {
  console.log("[lab] arm64 node_modules: project has no dependencies");
  process.exit(0);
}
if (!fs.existsSync(path.join(project, "node_modules")))
  die(`${project}/node_modules missing: run npm ci there first`);

// npm ls exits non-zero for mere warnings (extraneous, invalid peer); its list is still usable.
let listing;
try {
  listing = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], {
    cwd: project,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
} catch (e) {
  listing = e.stdout ?? "";
  if (!listing.trim()) die(`npm ls failed in ${project}: ${String(e.stderr).trim().split("\n").pop()}`);
}
const dirs = listing
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l && l !== project && fs.existsSync(l));

let copied = 0;
const koffis = [];
for (const dir of dirs) {
  const rel = path.relative(project, dir);
  if (/(^|\/)@koromix\/koffi-[^/]+$/.test(rel)) continue; // host-cpu native half of koffi
  if (rel.startsWith("..")) {
    console.error(`lab: warning: ${dir} lies outside the project (linked?); skipped`);
    continue;
  }
  const dest = path.join(outDir, rel);
  // Nested node_modules are listed (and filtered) separately, so skip them here.
  fs.cpSync(dir, dest, {
    recursive: true,
    dereference: true,
    filter: (src) => path.relative(dir, src).split(path.sep)[0] !== "node_modules",
  });
  copied++;
  if (path.basename(rel) === "koffi" && path.basename(path.dirname(rel)) === "node_modules")
    koffis.push(dest);
}

for (const dest of koffis) {
  const version = JSON.parse(fs.readFileSync(path.join(dest, "package.json"), "utf8")).version;
  const tgzDir = path.join(cache, "npm");
  const tgz = path.join(tgzDir, `koromix-koffi-linux-arm64-${version}.tgz`);
  if (!fs.existsSync(tgz)) {
    fs.mkdirSync(tgzDir, { recursive: true });
    const tmp = fs.mkdtempSync(path.join(tgzDir, "pack."));
    try {
      execFileSync(
        "npm",
        [
          "pack",
          "--fetch-retries=1",
          "--fetch-retry-mintimeout=2000",
          "--fetch-retry-maxtimeout=5000",
          `@koromix/koffi-linux-arm64@${version}`,
        ],
        { cwd: tmp, stdio: ["ignore", "pipe", "pipe"] },
      );
      fs.renameSync(path.join(tmp, path.basename(tgz)), tgz);
    } catch (e) {
      die(
        `npm pack @koromix/koffi-linux-arm64@${version} failed: ${String(e.stderr ?? e.message)
          .trim()
          .split("\n")
          .pop()}`,
      );
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  }
  const target = path.join(path.dirname(dest), "@koromix", "koffi-linux-arm64");
  fs.mkdirSync(target, { recursive: true });
  execFileSync("tar", ["-xzf", tgz, "-C", target, "--strip-components=1"]);
  console.log(
    `[lab] arm64 koffi: ${path.relative(outDir, dest)} ${version} + @koromix/koffi-linux-arm64 ${version}`,
  );
}

// Flag native addons built for another machine (ELF e_machine 62 = x86-64; 183 = aarch64).
const walk = (d) =>
  fs
    .readdirSync(d, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? walk(path.join(d, e.name)) : e.name.endsWith(".node") ? [path.join(d, e.name)] : [],
    );
for (const f of walk(out)) {
  const h = Buffer.alloc(20);
  const fd = fs.openSync(f, "r");
  fs.readSync(fd, h, 0, 20, 0);
  fs.closeSync(fd);
  if (h.readUInt32BE(0) === 0x7f454c46 && h.readUInt16LE(18) !== 183) {
    console.error(
      `lab: warning: ${path.relative(outDir, f)} is not an arm64 binary; it will not load in the guest`,
    );
  }
}
console.log(`[lab] arm64 node_modules: ${copied} production package(s) copied`);
