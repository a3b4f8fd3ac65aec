import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { FW_REGS, KvmError, VCPU_FEATURES, regValuesEqual } from "../kvm/index.js";
import type { KvmSystem, KvmVcpu, KvmVm } from "../kvm/index.js";
import { injectFaults, openSimKvm } from "../kvm/sim/index.js";
import type { FaultOp, FaultRule, SimGeneration } from "../kvm/sim/index.js";
import { sysregId } from "../regs/index.js";
import { VmOpError } from "./managed-vm.js";
import { writePhase } from "./write-order.js";
import { createPinnedVm } from "./pin.js";
import { probe } from "../probe/probe.js";
import type { HostProfile } from "../formats/profile.js";
import { readSnapshotFile, writeSnapshotFile } from "../formats/snapshot-binary.js";
import type { Snapshot } from "../formats/snapshot.js";
import { timeVaryingRule } from "../kvm/rules/time-varying.js";
import { abiFingerprint, abiOfSnapshot, fingerprintDiff } from "./guest-abi.js";
import { createDefaultVm, migrate, restore, save } from "./vm.js";

const CPU = "cortex-a72";
const sim = (generation: SimGeneration, cpu = CPU) => openSimKvm({ generation, cpu });
const profiles = new Map<string, HostProfile>();
function profileOf(gen: SimGeneration, cpu = CPU): HostProfile {
  const key = `${gen}/${cpu}`;
  let p = profiles.get(key);
  if (!p)
    profiles.set(key, (p = probe(sim(gen, cpu), { configs: ["psci-0.2", "psci-0.2+pmu"], cpuLabel: cpu })));
  return p;
}
function defaultSnapshot(
  gen: SimGeneration,
  vcpus = 2,
  features: number[] = [VCPU_FEATURES.PSCI_0_2],
): Snapshot {
  const m = createDefaultVm(sim(gen), { vcpus, features, cpuLabel: CPU });
  const s = save(m, { createdAt: false });
  m.vm.destroy();
  return s;
}

/** Wraps a system to record every VM it creates. */
function tracking(inner: KvmSystem): { system: KvmSystem; vms: KvmVm[] } {
  const vms: KvmVm[] = [];
  const system = new Proxy(inner, {
    get(target, prop, recv) {
      const v = Reflect.get(target, prop, recv) as unknown;
      if (prop === "createVm")
        return (...args: unknown[]) => {
          const vm = (v as (...a: unknown[]) => KvmVm).apply(target, args);
          vms.push(vm);
          return vm;
        };
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { system, vms };
}
const destroyed = (vm: KvmVm) => {
  try {
    vm.checkExtension(1);
    return false;
  } catch (e) {
    return KvmError.is(e, "EBADF");
  }
};
/** The operations of op `op` (every operation: "") a restore of `s` makes. */
const countOps = (gen: SimGeneration, s: Snapshot, op: string): number => {
  let n = 0;
  const { system } = injectFaults(sim(gen), [
    { when: (o) => ((op === "" || o.op === op) && n++ < 0) || false, errno: "EIO" },
  ]);
  restore(s, system, { profile: profileOf(gen) });
  return n;
};

describe("save", () => {
  it("keeps every register of every vCPU bit-exact, with the VM state and the source host", () => {
    const m = createDefaultVm(sim("7.2"), {
      vcpus: 3,
      features: [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3],
    });
    const s = save(m, { note: "t", createdAt: "2030-01-01T00:00:00.000Z" });
    assert.equal(s.vcpus.length, 3);
    assert.deepEqual(s.source, {
      release: "7.2.0-sim-arm64",
      generation: "7.2",
      cpuLabel: null,
      backend: "sim",
    });
    assert.equal(s.createdAt, "2030-01-01T00:00:00.000Z");
    // The machine: the vGICv3 (revision 3 on 7.2) and its ITS (table ABI 0), the PMUs wired to it.
    assert.deepEqual(s.vm.machine, { nrIrqs: 128, its: true, gicdIidr: 0x4b00343b, gitsIidr: 0x4b00043b });
    for (const [i, v] of s.vcpus.entries()) {
      assert.deepEqual(v.attrs, []); // the PMUs' IRQ and INIT are the machine's, not attributes to replay
      for (const [id, value] of v.regs) assert.ok(regValuesEqual(value, m.vcpus[i]!.vcpu.getOneReg(id)));
    }
  });

  it("needs a source identity", () => {
    const m = createDefaultVm(sim("6.1"));
    delete m.host;
    assert.throws(
      () => save(m),
      (e: unknown) => e instanceof VmOpError && e.kind === "input",
    );
  });
});

describe("restore", () => {
  it("writes the snapshot's GICD_IIDR revision back, and refuses one the destination does not take", () => {
    // A 6.1 VM whose VMM selected revision 2 (as a baseline with 5.10 pins it): a restore on 6.1, whose
    // new vGICs say 3, writes 2 back after CTRL_INIT (vgic_mmio_uaccess_write_v3_misc)
    const s = defaultSnapshot("6.1", 1);
    assert.equal(s.vm.machine?.gicdIidr, 0x4b00343b);
    s.vm.machine!.gicdIidr = 0x4b00243b;
    const { vm, report } = restore(s, sim("6.1"), { profile: profileOf("6.1") });
    assert.ok(report.steps.some((x) => x.detail.endsWith("GICD_IIDR revision 3 -> 2")));
    assert.equal(save(vm, { createdAt: false }).vm.machine?.gicdIidr, 0x4b00243b);
    vm.vm.destroy();
    // 6.1's revision 3 on 5.10 (which takes only its own 2): the check refuses before anything exists
    const t = tracking(sim("5.10"));
    assert.throws(
      () => restore(defaultSnapshot("6.1", 1), t.system, { profile: profileOf("5.10") }),
      (e: unknown) =>
        e instanceof VmOpError &&
        e.kind === "refused" &&
        !!e.verdicts?.some((v) => v.register === "GICD_IIDR"),
    );
    assert.equal(t.vms.length, 0);
  });

  it("restores on the same kernel with every register read back equal", () => {
    const s = defaultSnapshot("6.12");
    const { vm, report } = restore(s, sim("6.12"), { profile: profileOf("6.12") });
    assert.equal(report.check.compatible, true);
    assert.equal(report.skipped.length, 0);
    assert.deepEqual(report.unsaved, []);
    assert.equal(report.readBacks.adjusted, 0);
    assert.equal(
      report.written + report.skipped.length,
      [...s.vcpus].reduce((n, v) => n + v.regs.size, 0),
    );
    const again = save(vm, { createdAt: false, source: s.source });
    for (const [i, v] of s.vcpus.entries())
      for (const [id, value] of v.regs)
        if (!timeVaryingRule(id))
          assert.ok(regValuesEqual(value, again.vcpus[i]!.regs.get(id)!), `0x${id.toString(16)}`);
  });

  it("refuses a VM with 7.2's defaults on 6.1 before creating anything, with the verdicts", () => {
    const s = defaultSnapshot("7.2");
    const { system, vms } = tracking(sim("6.1"));
    assert.throws(
      () => restore(s, system, { profile: profileOf("6.1") }),
      (e: unknown) => {
        assert.ok(e instanceof VmOpError);
        assert.equal(e.kind, "refused");
        assert.ok(
          e.verdicts!.some((v) => v.register === "KVM_REG_ARM_PSCI_VERSION" && v.level === "incompatible"),
        );
        assert.match(
          e.message,
          /^restore: 6\.1\.0-sim-arm64 \(cortex-a72\) is incompatible with the snapshot \(\d+ incompatible verdicts: [^;]+; first: /,
        );
        return true;
      },
    );
    assert.equal(vms.length, 0);
  });

  it("writes in the kernel's order: caps, vCPUs, init, vCPU attributes, ID, firmware, bitmaps, the rest", () => {
    const s = defaultSnapshot("6.12", 2, [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3]);
    const ISAR0 = sysregId(3, 0, 0, 6, 0);
    for (const v of s.vcpus) v.regs.set(ISAR0, ((v.regs.get(ISAR0) as bigint) & ~0xf0n) | 0x10n); // AES lowered: PMULL hidden
    const log: string[] = [];
    const rule: FaultRule = {
      when: (o) => {
        if (["createVm", "createVcpu", "init", "setDeviceAttr", "setOneReg"].includes(o.op))
          log.push(o.op === "setOneReg" ? `set ${writePhase(o.regId!)}` : o.op);
        return false;
      },
      errno: "EIO",
    };
    const { system } = injectFaults(sim("7.2"), [rule]);
    restore(s, system, { profile: profileOf("7.2") });
    const phases = log.filter((x, i) => x !== log[i - 1]);
    assert.deepEqual(phases, [
      "createVm",
      "createVcpu",
      "init",
      "setDeviceAttr",
      "set id",
      "set firmware",
      "set other",
    ]);
  });

  it("leaves no VM behind when the n-th KVM_SET_ONE_REG fails, for every n", () => {
    const s = defaultSnapshot("6.12");
    const total = countOps("7.2", s, "setOneReg");
    assert.ok(total > 300, `${total} writes`);
    const ns = [...Array.from({ length: Math.ceil(total / 7) }, (_, i) => 1 + 7 * i), total];
    for (const n of ns) {
      let k = 0;
      const { system: faulty } = injectFaults(sim("7.2"), [
        { when: (o) => o.op === "setOneReg" && ++k === n, errno: "EIO" },
      ]);
      const { system, vms } = tracking(faulty);
      assert.throws(
        () => restore(s, system, { profile: profileOf("7.2") }),
        (e: unknown) =>
          e instanceof VmOpError &&
          e.kind === "kvm" &&
          e.errno === "EIO" &&
          e.register !== undefined &&
          e.vmDestroyed &&
          /KVM_SET_ONE_REG .* \(0x[0-9a-f]{16}\) = .*: EIO; the destination VM was destroyed$/.test(
            e.message,
          ),
        `n=${n}`,
      );
      assert.equal(vms.length, 1);
      assert.ok(destroyed(vms[0]!), `n=${n}: the VM is still alive`);
    }
  });

  it("leaves no VM behind when a read-back fails or differs", () => {
    const s = defaultSnapshot("6.12");
    const reads = countOps("7.2", s, "getOneReg");
    const { system: faulty } = injectFaults(sim("7.2"), [
      {
        when: (o) => o.op === "getOneReg" && o.seq > 0 && reads > 0 && o.regId === FW_REGS.PSCI_VERSION,
        errno: "EIO",
      },
    ]);
    const t1 = tracking(faulty);
    assert.throws(() => restore(s, t1.system, { profile: profileOf("7.2") }), /KVM_GET_ONE_REG .*EIO/);
    assert.ok(destroyed(t1.vms[0]!));

    // A vCPU whose SCTLR_EL1 reads back other than written (a KVM that silently drops a write).
    const SCTLR = sysregId(3, 0, 1, 0, 0);
    const lying = (vcpu: KvmVcpu): KvmVcpu =>
      new Proxy(vcpu, {
        get(t, p) {
          if (p === "getOneReg") return (id: bigint) => (id === SCTLR ? 0x1234n : t.getOneReg(id));
          const v = Reflect.get(t, p) as unknown;
          return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
        },
      });
    const inner = sim("6.12");
    const t2 = tracking(
      Object.create(inner, {
        createVm: {
          configurable: true,
          value: (o?: object) => {
            const vm = inner.createVm(o);
            return Object.create(vm, {
              createVcpu: { configurable: true, value: (id: number) => lying(vm.createVcpu(id)) },
            }) as KvmVm;
          },
        },
      }) as KvmSystem,
    );
    assert.throws(
      () => restore(s, t2.system, { profile: profileOf("6.12") }),
      (e: unknown) =>
        e instanceof VmOpError &&
        e.kind === "verify" &&
        e.register === SCTLR &&
        /reads back 0x1234 after/.test(e.message),
    );
    assert.ok(destroyed(t2.vms[0]!));
  });

  it("ends every single-fault position in a VmOpError with no VM left, or a restored VM; a failing destroy too", () => {
    const s = defaultSnapshot("7.2", 1);
    const total = countOps("7.2", s, "");
    assert.ok(total > 500, `${total} operations`);
    const tolerated = new Set<string>();
    for (let n = 1; n <= total; n++)
      for (const destroyFails of [false, true]) {
        const where = `n=${n}${destroyFails ? ", destroy fails" : ""}`;
        const inj = injectFaults(sim("7.2"), [
          { nth: n, errno: "EIO" },
          ...(destroyFails ? [{ when: (o: FaultOp) => o.op === "destroy", errno: "EBADF" as const }] : []),
        ]);
        try {
          restore(s, inj.system, { profile: profileOf("7.2") });
          // Only a read whose failure restore works around: setIfDifferent's (it writes anyway) and
          // readMasks (only a message's hint).
          tolerated.add(inj.injected()[0]!.op);
          assert.equal(inj.liveVms(), 1, where);
        } catch (e) {
          assert.ok(
            e instanceof VmOpError && e.kind === "kvm" && e.errno === "EIO",
            `${where}: ${String(e)}`,
          );
          assert.equal(inj.liveVms(), 0, `${where}: a VM is still alive`);
          const created = n > 2; // 1: the host identity, 2: KVM_CREATE_VM
          assert.equal(e.vmDestroyed, created, where);
          assert.equal(e.cleanupError !== undefined, created && destroyFails, where);
        }
      }
    assert.deepEqual([...tolerated].sort(), ["getOneReg", "getRegWritableMasks"]);
  });

  it("keeps the error that stopped it when the destination VM's destroy fails too", () => {
    const s = defaultSnapshot("7.2", 1);
    const inj = injectFaults(sim("7.2"), [
      { when: (o) => o.op === "setOneReg", errno: "EIO" },
      { when: (o) => o.op === "destroy", errno: "EBADF" },
    ]);
    assert.throws(
      () => restore(s, inj.system, { profile: profileOf("7.2") }),
      (e: unknown) =>
        e instanceof VmOpError &&
        e.errno === "EIO" &&
        e.vmDestroyed &&
        e.cleanupError === "destroy (injected): EBADF (bad file descriptor)" &&
        /KVM_SET_ONE_REG .*: EIO; the destination VM was destroyed, but its destroy reported: destroy \(injected\): EBADF/.test(
          e.message,
        ),
    );
    assert.equal(inj.liveVms(), 0);
  });

  it("refuses a snapshot without vCPUs as bad input, creating nothing", () => {
    const s = defaultSnapshot("7.2", 1);
    s.vcpus = [];
    const inj = injectFaults(sim("7.2"), []);
    assert.throws(
      () => restore(s, inj.system, { profile: profileOf("7.2") }),
      (e: unknown) =>
        e instanceof VmOpError &&
        e.kind === "input" &&
        e.message === "restore: the snapshot has no vCPUs: there is nothing to restore",
    );
    assert.equal(inj.count(), 0);
  });

  it("round-trips through a snapshot file", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-vm-"));
    const s = defaultSnapshot("6.1");
    for (const enc of ["binary", "json"] as const) {
      const file = path.join(dir, `s.${enc}`);
      await writeSnapshotFile(file, s, enc);
      const back = await readSnapshotFile(file);
      const r = restore(back, sim("6.1"), { profile: profileOf("6.1") });
      assert.equal(r.report.readBacks.adjusted, 0);
    }
  });

  it("restores a secondary vCPU initialised with POWER_OFF on 6.12+", () => {
    const m = createDefaultVm(sim("7.2"), { vcpus: 1 });
    const s = save(m);
    s.vcpus.push({ ...s.vcpus[0]!, id: 1, init: { ...s.vcpus[0]!.init, features: [0, 2] } });
    restore(s, sim("7.2"), { profile: profileOf("7.2") });
  });
});

describe("migrate", () => {
  it("moves a 6.12 VM to 7.2 and back; its guest ABI fingerprint is unchanged, here and there", () => {
    const src = createDefaultVm(sim("6.12"), { vcpus: 2 });
    const before = abiFingerprint(sim("6.12"), "host-defaults");
    const there = migrate(src, sim("7.2"), { profile: profileOf("7.2"), sourceProfile: profileOf("6.12") });
    assert.equal(there.vm.vcpus[0]!.vcpu.getOneReg(FW_REGS.PSCI_VERSION), 0x10001n); // 6.12's PSCI 1.1, kept
    const back = migrate(there.vm, sim("6.12"), {
      profile: profileOf("6.12"),
      sourceProfile: profileOf("7.2"),
    });
    const after = abiFingerprint(sim("6.12"), abiOfSnapshot(save(back.vm)));
    assert.deepEqual(fingerprintDiff(before, after), []);
    assert.equal(after.sha256, before.sha256);
    const on72 = abiFingerprint(sim("7.2"), abiOfSnapshot(there.snapshot));
    assert.deepEqual(fingerprintDiff(before, on72), []);
  });

  it("pinned to an older host's ABI, a 7.2 VM restores on 6.12 (registers 6.12 lacks skipped as tolerated)", () => {
    const abi612 = abiOfSnapshot(defaultSnapshot("6.12", 1));
    const { vm } = createPinnedVm(sim("7.2"), abi612, { vcpus: 2 });
    const r = migrate(vm, sim("6.12"), { profile: profileOf("6.12") });
    assert.ok(r.report.skipped.length > 0);
    assert.ok(
      r.report.skipped.every((x) =>
        r.report.check.verdicts.some(
          (v) => v.id === `0x${x.id.toString(16).padStart(16, "0")}` && v.level === "tolerated",
        ),
      ),
    );
  });
});
