/**
 * check agrees with the real kernels: for every CPU model and every ordered pair of kernels of the lab,
 * `checkAbi(state saved on X, profile of Y)` says compatible exactly when Y's kernel took every saved
 * register (lab/profiles/restore), where a register Y does not list (ENOENT) counts as taken when check
 * tolerates its absence (a restore skips those, at the value a VM that never knew them has).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkAbi } from "../check/check.js";
import { readProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { readRestoreTrial } from "../formats/restore-trial.js";
import { savedSnapshot } from "../check/testing/sim-profiles.js";

const lab = fileURLToPath(new URL("../../lab/profiles/", import.meta.url));
const KERNELS = ["5.10", "6.1", "6.12", "7.2"] as const;
const CPUS = ["max", "cortex-a57", "cortex-a72", "cortex-a76", "neoverse-n1", "a64fx"];

describe("check against the real kernels' restore matrix", () => {
  for (const cpu of CPUS) {
    it(`agrees with every cross-kernel restore on ${cpu}`, () => {
      const profiles = new Map<string, HostProfile>(
        KERNELS.map((k) => [k, readProfile(fs.readFileSync(`${lab}${k}-${cpu}.json`, "utf8"))]),
      );
      const disagreements: string[] = [];
      let pairs = 0;
      for (const dst of KERNELS) {
        const doc = readRestoreTrial(fs.readFileSync(`${lab}restore/${dst}-${cpu}.json`, "utf8"));
        for (const trial of doc.trials) {
          const src = trial.from.generation!;
          const report = checkAbi(savedSnapshot(profiles.get(src)!), profiles.get(dst)!, {
            sourceProfile: profiles.get(src)!,
          });
          const tolerated = new Set(
            report.verdicts.filter((v) => v.level === "tolerated" && !v.field).map((v) => BigInt(v.id)),
          );
          const refused = trial.results.filter(
            ([id, r]) => r !== "ok" && !(r === "ENOENT" && tolerated.has(id)),
          );
          const kernelTookIt = trial.init === "ok" && refused.length === 0;
          pairs++;
          if (report.compatible !== kernelTookIt) {
            const why = report.verdicts
              .filter((v) => v.level === "incompatible")
              .map((v) => v.register + (v.field ? `.${v.field}` : ""));
            disagreements.push(
              `${src} -> ${dst}: the kernel ${kernelTookIt ? "took every register" : `refused ${refused.length} registers`}, check says ${report.compatible ? "compatible" : `incompatible (${why.slice(0, 4).join(", ")})`}`,
            );
          }
        }
      }
      assert.equal(pairs, 16);
      assert.deepEqual(disagreements, []);
    });
  }
});
