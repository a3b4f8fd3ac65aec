/**
 * The simulator held to the real kernels: for every committed lab profile (lab/profiles/<kernel>-<cpu>.json,
 * probed on real KVM inside QEMU 7.2), the simulator of the same kernel generation and CPU model is probed
 * the same way (the probe picks the configurations from the simulator's capabilities, as on a real host)
 * and must show no difference (diffProfiles). Likewise every committed restore trial
 * (lab/profiles/restore/<kernel>-<cpu>.json) is replayed on the simulator from the same saved states and
 * must give the same result per register (diffRestoreTrials).
 *
 * Nothing is filtered: a difference the model cannot explain stays a failure (src/kvm/sim/README.md lists
 * what the model derives and from where). Debian's 6.18-bpo is held to the simulated 6.18; only the lab's
 * kernel of no simulated generation (7.3) is left out, each of its profiles a skipped test that says so.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CPU_MODELS, SimSystem, isSimGeneration } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { probe } from "../probe/probe.js";
import type { HostProfile } from "../formats/profile.js";
import { kernelVersion, readProfile } from "../formats/profile.js";
import { diffProfiles, diffRestoreTrials, formatDifferences } from "./profile-diff.js";
import type { RestoreTrialDoc } from "../formats/restore-trial.js";
import { readRestoreTrial } from "../formats/restore-trial.js";
import { restoreTrial } from "../probe/restore-trial.js";

const LAB = fileURLToPath(new URL("../../lab/profiles/", import.meta.url));
const RESTORE = path.join(LAB, "restore");

const jsonFiles = (dir: string) =>
  fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort();

const profiles = new Map<string, HostProfile>(
  jsonFiles(LAB).map((f) => [
    f.replace(/\.json$/, ""),
    readProfile(fs.readFileSync(path.join(LAB, f), "utf8"), f),
  ]),
);

/**
 * The simulated generation of a lab host: its profile's generation, else the simulator generation named
 * by its release's major.minor (Debian's 6.18.15 is held to the simulated "6.18").
 */
function simGeneration(host: { generation: string | null; release: string }): SimGeneration | undefined {
  if (host.generation && isSimGeneration(host.generation)) return host.generation;
  const v = kernelVersion(host.release);
  const line = v ? `${v[0]}.${v[1]}` : "";
  return isSimGeneration(line) ? line : undefined;
}

/** The simulator of a profile's kernel generation and CPU model (the lab labels hosts by QEMU -cpu name). */
function simFor(
  host: { generation: string | null; release: string; cpuLabel: string | null },
  what: string,
): SimSystem {
  const generation = simGeneration(host);
  assert.ok(generation, `${what}: no simulated kernel for ${host.release}`);
  assert.ok(host.cpuLabel, `${what}: no CPU label`);
  return new SimSystem({ generation, cpu: host.cpuLabel });
}

/** Why a real kernel has no simulator to compare with, or false. */
const measuredOnly = (host: { generation: string | null; release: string }) =>
  simGeneration(host) === undefined && `no simulator generation for kernel ${host.release}: measured only`;

const FIXED_TIME = () => new Date("2026-01-01T00:00:00.000Z");

describe("simulator conformance: host profiles of the real kernels", () => {
  it("has the lab's profiles to compare with", () => {
    assert.ok(profiles.size >= 24, `only ${profiles.size} profiles in ${LAB}`);
  });
  it("calls measured exactly the CPU models the lab has profiles of", () => {
    const profiled = new Set([...profiles.values()].map((p) => p.host.cpuLabel));
    const measured = Object.values(CPU_MODELS).filter((c) => c.measured);
    assert.deepEqual(measured.map((c) => c.name).sort(), [...profiled].sort());
  });
  it("leaves out only the lab's kernel of no simulated generation, 7.3", () => {
    const left = [...profiles]
      .filter(([, p]) => measuredOnly(p.host))
      .map(([name, p]) => name.slice(0, -`-${p.host.cpuLabel}`.length));
    assert.deepEqual([...new Set(left)].sort(), ["7.3"]);
  });
  for (const [name, real] of profiles)
    it(`${name}: the simulator probes as the real kernel`, { skip: measuredOnly(real.host) }, () => {
      const sim = simFor(real.host, name);
      try {
        const simulated = probe(sim, { cpuLabel: real.host.cpuLabel, now: FIXED_TIME });
        const diffs = diffProfiles(real, simulated);
        assert.ok(
          diffs.length === 0,
          `${name}: ${diffs.length} differences (expected = real kernel, got = simulator)\n${formatDifferences(diffs)}`,
        );
      } finally {
        sim.close();
      }
    });
});

describe("simulator conformance: restore trials of the real kernels", () => {
  const docs = jsonFiles(RESTORE).map((f): [string, RestoreTrialDoc] => [
    f.replace(/\.json$/, ""),
    readRestoreTrial(fs.readFileSync(path.join(RESTORE, f), "utf8"), f),
  ]);
  it("has the lab's restore trials to compare with", () => {
    assert.ok(docs.length >= 24, `only ${docs.length} restore trials in ${RESTORE}`);
  });
  for (const [name, real] of docs)
    it(
      `${name}: the simulator restores the saved states as the real kernel`,
      { skip: measuredOnly(real.host) },
      () => {
        // The saved states are the committed real profiles' (psci-0.2 after-run values), as in the lab,
        // which names each saved/<kernel>.json after the lab's kernel (5.10, ..., 6.18-bpo, 7.3).
        const sources = real.trials.map((t) => {
          const key = `${path.basename(t.from.source, ".json")}-${t.from.cpuLabel}`;
          const profile = profiles.get(key);
          assert.ok(profile, `${name}: no committed profile ${key} for the saved state ${t.from.source}`);
          return { profile, source: t.from.source };
        });
        const sim = simFor(real.host, name);
        try {
          const simulated = restoreTrial(sim, sources, { cpuLabel: real.host.cpuLabel, now: FIXED_TIME });
          const diffs = diffRestoreTrials(real, simulated);
          assert.ok(
            diffs.length === 0,
            `${name}: ${diffs.length} differences (expected = real kernel, got = simulator)\n${formatDifferences(diffs)}`,
          );
        } finally {
          sim.close();
        }
      },
    );
});
