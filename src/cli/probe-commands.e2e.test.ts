import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { guestabi } from "./testing.js";

/** The command is wired into main.ts by registerProbeCommands; until then these tests skip. */
const wired = /^\s+probe\b/m.test(guestabi(["--help"]).stdout);
const hasKvm = process.platform === "linux" && process.arch === "arm64";

describe(
  "guestabi probe / restore-trial (built CLI)",
  { skip: !wired && "probe commands not registered in main.ts" },
  () => {
    it(
      "fails on a host without KVM with the backend's one line and exit code 2",
      { skip: hasKvm && "this host may have KVM" },
      () => {
        const r = guestabi(["probe", "--out", "-", "--cpu-label", "cortex-a72"]);
        assert.equal(r.code, 2);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /^guestabi: guestabi's KVM backend needs an arm64 (Linux )?host[^\n]*\n$/);
      },
    );

    it("rejects an unknown configuration with exit code 2", () => {
      const r = guestabi(["probe", "--configs", "psci-0.2,nope"]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^guestabi: .*unknown configuration 'nope'/);
    });

    it("probes a simulated FEAT_CCIDX host before 6.3: the CCSIDR demux values are 32-bit (demux_c15_get)", () => {
      for (const sim of ["5.10/neoverse-v1-silicon", "6.1/neoverse-v1-silicon"]) {
        const r = guestabi(["probe", "--quiet", "--sim", sim, "--configs", "psci-0.2", "--out", "-"]);
        assert.equal(r.code, 0, `${sim}: ${r.stderr}`);
        const reset = (JSON.parse(r.stdout) as { configs: { reset: [string, string][] }[] }).configs[0]!
          .reset;
        assert.deepEqual(
          reset.filter(([id]) => id.startsWith("0x602000000011")),
          [
            ["0x6020000000110000", "0x1a"],
            ["0x6020000000110001", "0x1a"],
            ["0x6020000000110002", "0x3a"],
          ],
          sim,
        );
      }
    });

    it("restore-trial rejects a missing profile with exit code 2", () => {
      const r = guestabi(["restore-trial", "--from", "/nonexistent/p.json"]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, "guestabi: cannot read /nonexistent/p.json: ENOENT\n");
    });
  },
);
