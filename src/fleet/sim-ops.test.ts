import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { baseline } from "../check/baseline.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { VmOpError } from "../vm/managed-vm.js";
import { abiOfSnapshot } from "../vm/guest-abi.js";
import { SimHosts } from "./fleet.js";
import { migrateOnSim, pinOnSim, restoreOnSim, saveOnSim } from "./sim-ops.js";
import type { SimHost } from "./sim-ops.js";

const CPU = "cortex-a72";
const DEFAULTS = { vcpus: 1, features: [VCPU_FEATURES.PSCI_0_2] };
const opened: SimHost[] = [];
function host(generation: SimGeneration): SimHost {
  const h = { system: openSimKvm({ generation, cpu: CPU }), generation, cpu: CPU };
  opened.push(h);
  return h;
}

describe("sim-ops", () => {
  after(() => {
    for (const h of opened) h.system.close();
  });

  it("restore: a 7.2 VM arrives on 7.2, and is refused on 6.1 (an outcome, not an error)", () => {
    const snapshot = saveOnSim(host("7.2"), DEFAULTS, "host defaults");
    assert.equal(snapshot.vcpus.length, 1);
    const there = restoreOnSim(snapshot, host("7.2"));
    assert.equal(there.arrived, true);
    const refused = restoreOnSim(snapshot, host("6.1"));
    assert.ok(!refused.arrived);
    assert.equal(refused.error.kind, "refused");
  });

  it("restore: a snapshot without vCPUs is bad input, thrown (kind input), not an outcome", () => {
    const snapshot = saveOnSim(host("7.2"), DEFAULTS, "host defaults");
    assert.throws(
      () => restoreOnSim({ ...snapshot, vcpus: [] }, host("7.2")),
      (e: unknown) => e instanceof VmOpError && e.kind === "input",
    );
  });

  it("migrate: pinned to the 6.12+7.2 baseline, 6.12 -> 7.2 arrives and the guest sees no difference", () => {
    const hosts = new SimHosts();
    const t = baseline([hosts.profile("6.12", CPU), hosts.profile("7.2", CPU)]).template;
    const m = migrateOnSim(host("6.12"), host("7.2"), { ...DEFAULTS, template: t });
    assert.equal(m.arrival.arrived, true);
    assert.deepEqual(m.after?.diff, []);
    assert.equal(m.saved.vcpus, 1);
    assert.ok(m.pinned);
  });

  it("pin and migrate throw VmOpError when the VM cannot start (PSCI 1.3 on 6.12)", () => {
    const t = abiOfSnapshot(saveOnSim(host("7.2"), DEFAULTS, "host defaults"));
    assert.throws(() => pinOnSim(host("6.12"), t, 1), VmOpError);
    assert.throws(() => migrateOnSim(host("6.12"), host("7.2"), { ...DEFAULTS, template: t }), VmOpError);
  });
});
