import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { KvmUnavailableError } from "../errors.js";
import { ffiProblem, hostProblem, notKvmProblem, openProblem } from "./availability.js";
import { openLinuxKvm } from "./index.js";

describe("backend unavailability messages", () => {
  it("name the wrong OS or CPU", () => {
    assert.equal(hostProblem({ platform: "linux", arch: "arm64" }), undefined);
    assert.equal(
      hostProblem({ platform: "linux", arch: "x64" })?.message,
      "guestabi's KVM backend needs an arm64 host; this is x64",
    );
    const mac = hostProblem({ platform: "darwin", arch: "arm64" })!;
    assert.equal(mac.reason, "platform");
    assert.equal(
      mac.message,
      "guestabi's KVM backend needs an arm64 Linux host with KVM; this is darwin/arm64",
    );
  });

  it("explain a failed open of /dev/kvm", () => {
    const none = openProblem("/dev/kvm", "ENOENT");
    assert.equal(none.reason, "no-kvm");
    assert.equal(
      none.message,
      "/dev/kvm not found: this host has no KVM (need an arm64 Linux host with KVM)",
    );
    const perm = openProblem("/dev/kvm", 13);
    assert.equal(perm.reason, "permission");
    assert.match(perm.message, /^permission denied opening \/dev\/kvm: /);
    assert.equal(openProblem("/dev/kvm", "ENODEV").reason, "no-kvm");
    assert.equal(
      openProblem("/dev/kvm", "EMFILE").message,
      "cannot open /dev/kvm: EMFILE (too many open files)",
    );
    assert.match(
      notKvmProblem("/dev/null", "KVM_GET_API_VERSION failed with ENOTTY").message,
      /^\/dev\/null is not a KVM device/,
    );
    assert.match(
      ffiProblem({ platform: "linux", arch: "arm64" }, new Error("Cannot find module\nstack")).message,
      /@koromix\/koffi-linux-arm64.*Cannot find module$/,
    );
  });

  it("are all one line", () => {
    for (const e of [
      hostProblem({ platform: "win32", arch: "x64" })!,
      openProblem("/dev/kvm", "EACCES"),
      openProblem("/dev/kvm", "ENXIO"),
    ])
      assert.ok(!e.message.includes("\n"), e.message);
  });
});

describe("openLinuxKvm", () => {
  it("refuses this host unless it is an arm64 Linux with KVM", async () => {
    if (process.platform === "linux" && process.arch === "arm64" && fs.existsSync("/dev/kvm")) return;
    await assert.rejects(openLinuxKvm(), KvmUnavailableError);
  });

  it("checks the OS and CPU before anything else", async () => {
    await assert.rejects(openLinuxKvm({ host: { platform: "linux", arch: "x64" } }), {
      name: "KvmUnavailableError",
      reason: "arch",
      message: "guestabi's KVM backend needs an arm64 host; this is x64",
    });
  });

  it("reports a missing device", async () => {
    await assert.rejects(
      openLinuxKvm({ host: { platform: "linux", arch: "arm64" }, device: "/nonexistent/kvm" }),
      {
        reason: "no-kvm",
        message: "/nonexistent/kvm not found: this host has no KVM (need an arm64 Linux host with KVM)",
      },
    );
  });

  it(
    "reports a device that is not KVM (or koffi missing) after opening it",
    { skip: process.platform !== "linux" && "not Linux" },
    async () => {
      await assert.rejects(
        openLinuxKvm({ host: { platform: "linux", arch: "arm64" }, device: "/dev/null" }),
        (e: unknown) => {
          assert.ok(e instanceof KvmUnavailableError);
          if (e.reason === "ffi") return true; // no koffi native package for this machine
          assert.equal(e.reason, "no-kvm");
          assert.equal(e.message, "/dev/null is not a KVM device: KVM_GET_API_VERSION failed with ENOTTY");
          return true;
        },
      );
    },
  );

  it("does not load koffi on import: the package imports and only opening fails without it", () => {
    // A resolve hook makes "koffi" unfindable, wherever node_modules directories happen to be.
    const hook = `export async function resolve(spec, ctx, next) {
      if (spec === "koffi" || spec.startsWith("koffi/")) {
        const e = new Error("Cannot find package 'koffi'"); e.code = "ERR_MODULE_NOT_FOUND"; throw e;
      }
      return next(spec, ctx);
    }`;
    const register = `import { register } from "node:module";
      register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));`;
    const index = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../index.js"); // dist/kvm/index.js
    const script = `
      const kvm = await import(${JSON.stringify(index)});
      try { await kvm.openLinuxKvm({ host: { platform: "linux", arch: "arm64" }, device: "/dev/null" }); console.log("opened"); }
      catch (e) { console.log(e.name + ":" + e.reason); }`;
    const out = execFileSync(
      process.execPath,
      [
        "--import",
        "data:text/javascript," + encodeURIComponent(register),
        "--input-type=module",
        "-e",
        script,
      ],
      { encoding: "utf8" },
    );
    assert.equal(out.trim(), "KvmUnavailableError:ffi");
  });
});
