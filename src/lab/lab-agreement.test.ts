/**
 * check agrees with the real kernels: for every CPU model and every ordered pair of kernels of the lab's
 * restore matrix, `checkAbi(state saved on X, profile of Y)` says compatible exactly when Y's kernel took
 * every saved register (lab/profiles/restore), where a register Y does not list (ENOENT) counts as taken
 * when check tolerates its absence (a restore skips those, at the value a VM that never knew them has).
 * The kernels the simulator does not model (6.18-bpo, 7.3) are in the matrix too: check judges them from
 * their measured profiles alone.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { checkAbi } from "../check/check.js";
import { readProfile } from "../formats/profile.js";
import { readRestoreTrial } from "../formats/restore-trial.js";
import { savedSnapshot } from "../check/testing/sim-profiles.js";

const lab = fileURLToPath(new URL("../../lab/profiles/", import.meta.url));
const UPSTREAM = ["5.10", "6.1", "6.12", "7.2"];
const WITH_NEW = ["5.10", "6.1", "6.12", "6.18-bpo", "7.2", "7.3"];
/** The restore matrix per CPU model (lab/lab-kernels.json: 6.18-bpo and 7.3 restoreCpus). */
const MATRIX: Record<string, string[]> = {
  max: UPSTREAM,
  "cortex-a57": UPSTREAM,
  "cortex-a72": WITH_NEW,
  "cortex-a76": UPSTREAM,
  "neoverse-n1": WITH_NEW,
  a64fx: UPSTREAM,
};

const profileOf = (kernel: string, cpu: string) => {
  const file = `${lab}${kernel}-${cpu}.json`;
  return readProfile(fs.readFileSync(file, "utf8"), file);
};
const restoresOn = (kernel: string, cpu: string) => {
  const file = `${lab}restore/${kernel}-${cpu}.json`;
  return readRestoreTrial(fs.readFileSync(file, "utf8"), file);
};
/** lab/run.mjs names each saved state after its lab kernel: saved/<kernel>.json */
const savedOn = (trial: { from: { source: string } }) => path.basename(trial.from.source, ".json");

describe("check against the real kernels' restore matrix", () => {
  for (const [cpu, kernels] of Object.entries(MATRIX)) {
    it(`agrees with every cross-kernel restore on ${cpu} (${kernels.join(", ")})`, () => {
      const profile = (k: string) => profileOf(k, cpu);
      const disagreements: string[] = [];
      const pairs: string[] = [];
      for (const dst of kernels) {
        for (const trial of restoresOn(dst, cpu).trials) {
          const src = savedOn(trial);
          const source = profile(src);
          const report = checkAbi(savedSnapshot(source), profile(dst), { sourceProfile: source });
          const tolerated = new Set(
            report.verdicts.filter((v) => v.level === "tolerated" && !v.field).map((v) => BigInt(v.id)),
          );
          const refused = trial.results.filter(
            ([id, r]) => r !== "ok" && !(r === "ENOENT" && tolerated.has(id)),
          );
          const kernelTookIt = trial.init === "ok" && refused.length === 0;
          pairs.push(`${src}->${dst}`);
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
      assert.deepEqual(pairs.sort(), kernels.flatMap((dst) => kernels.map((src) => `${src}->${dst}`)).sort());
      assert.deepEqual(disagreements, []);
    });
  }

  it("on cortex-a72: 6.18-bpo, 7.2 and 7.3 take each other's saved state; 6.12 refuses theirs over PSCI 1.3, as check says", () => {
    const refusedBy6_12 = ["KVM_REG_ARM_PSCI_VERSION:EINVAL", "KVM_REG_ARM_VENDOR_HYP_BMAP_2:ENOENT"];
    const expected: Record<string, string[]> = {
      "6.18-bpo->7.2": [],
      "6.18-bpo->7.3": [],
      "7.2->6.18-bpo": [],
      "7.2->7.3": [],
      "7.3->6.18-bpo": [],
      "7.3->7.2": [],
      "6.18-bpo->6.12": refusedBy6_12,
      "7.2->6.12": refusedBy6_12,
      "7.3->6.12": refusedBy6_12,
    };
    for (const [pair, refused] of Object.entries(expected)) {
      const [src, dst] = pair.split("->") as [string, string];
      const trial = restoresOn(dst, "cortex-a72").trials.find((t) => savedOn(t) === src);
      assert.ok(
        trial,
        `no restore of the state saved on ${src} in lab/profiles/restore/${dst}-cortex-a72.json`,
      );
      assert.deepEqual(
        trial.refused.map(([, name, result]) => `${name}:${result}`),
        refused,
        `${pair}: what the real kernel refused`,
      );
      const source = profileOf(src, "cortex-a72");
      const report = checkAbi(savedSnapshot(source), profileOf(dst, "cortex-a72"), { sourceProfile: source });
      assert.deepEqual(
        report.verdicts.filter((v) => v.level === "incompatible").map((v) => v.register),
        refused.length === 0 ? [] : ["KVM_REG_ARM_PSCI_VERSION"],
        `${pair}: check's incompatible verdicts`,
      );
    }
  });
});
