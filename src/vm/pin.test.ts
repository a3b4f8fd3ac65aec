import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS, KvmError, VCPU_FEATURES, getRegList } from "../kvm/index.js";
import type { KvmSystem, KvmVcpu, KvmVm } from "../kvm/index.js";
import { injectFaults, openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { sysregId } from "../regs/index.js";
import { VmOpError, hostIdentityOf } from "./managed-vm.js";
import { writePhase } from "./write-order.js";
import { abiOfVcpu } from "./guest-abi.js";
import { createPinnedVm, pin } from "./pin.js";
import { SVE_VLS_ID } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";

const CLIDR = sysregId(3, 1, 0, 0, 1);
const PSCI_0_2 = [VCPU_FEATURES.PSCI_0_2];

/** The ABI a fresh VM of (kernel, CPU) has with the host's defaults. */
function hostAbi(gen: SimGeneration, cpu = "cortex-a72", features: number[] = PSCI_0_2): AbiTemplate {
  const sys = openSimKvm({ generation: gen, cpu });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  const init = { target: vm.preferredTarget().target, features };
  v.init(init);
  if (features.includes(VCPU_FEATURES.PMU_V3)) v.setDeviceAttr(0, 1n);
  if (features.includes(VCPU_FEATURES.SVE)) v.finalize(VCPU_FEATURES.SVE);
  const t = abiOfVcpu(v, init, hostIdentityOf(sys, cpu), `${gen}/${cpu}`);
  sys.close();
  return t;
}

/** A system whose every KVM operation is logged as "op[ id]". */
function logged(inner: KvmSystem): { system: KvmSystem; log: string[] } {
  const log: string[] = [];
  const wrap = <T extends object>(obj: T, children: Record<string, (x: never) => object>): T =>
    new Proxy(obj, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          const id = typeof args[0] === "bigint" ? ` ${writePhase(args[0])}` : "";
          if (!["getOneReg", "getRegListRaw", "checkExtension", "getRegWritableMasks"].includes(String(prop)))
            log.push(`${String(prop)}${id}`);
          const out = (v as (...a: unknown[]) => unknown).apply(target, args);
          const child = children[String(prop)];
          return child && out && typeof out === "object" ? child(out as never) : out;
        };
      },
    });
  const vcpu = (c: KvmVcpu) => wrap(c, {});
  const vm = (m: KvmVm) => wrap(m, { createVcpu: vcpu as (x: never) => object });
  return { system: wrap(inner, { createVm: vm as (x: never) => object }), log };
}

const collapse = (log: string[]) => log.filter((x, i) => x !== log[i - 1]);

describe("pin on the simulator", () => {
  it("pins a host's own ABI back onto it: every read-back equal, nothing extra listed", () => {
    const t = hostAbi("6.1");
    const { vm, report } = createPinnedVm(openSimKvm({ generation: "6.1", cpu: "cortex-a72" }), t, {
      vcpus: 2,
    });
    assert.equal(vm.vcpus.length, 2);
    assert.ok(report.readBacks.length > 100);
    assert.ok(report.readBacks.every((r) => r.status === "ok"));
    assert.deepEqual(report.listedNotInTemplate, []);
    assert.deepEqual(report.inTemplateNotListed, []);
    assert.equal(report.writableMasks, "EINVAL"); // 6.1: no KVM_ARM_GET_REG_WRITABLE_MASKS
    vm.vm.destroy();
  });

  it("pins 6.1's ABI onto 7.2 (writable ID registers lowered) and reports what 7.2 lists beyond it", () => {
    const { vm, report } = createPinnedVm(
      openSimKvm({ generation: "7.2", cpu: "cortex-a72" }),
      hostAbi("6.1"),
    );
    assert.ok(report.readBacks.every((r) => r.status === "ok"));
    assert.ok(report.writableMasks instanceof Map && report.writableMasks.size > 0);
    assert.ok(report.listedNotInTemplate.includes(FW_REGS.VENDOR_HYP_BMAP_2));
    assert.equal(vm.vcpus[0]!.vcpu.getOneReg(FW_REGS.PSCI_VERSION), 0x10001n);
    vm.vm.destroy();
  });

  it("refuses 7.2's PSCI 1.3 on 6.12 with the register and errno, one line", () => {
    assert.throws(
      () => createPinnedVm(openSimKvm({ generation: "6.12", cpu: "cortex-a72" }), hostAbi("7.2")),
      (e: unknown) => {
        assert.ok(e instanceof VmOpError);
        assert.equal(e.stage, "pin");
        assert.equal(e.kind, "kvm");
        assert.equal(e.register, FW_REGS.PSCI_VERSION);
        assert.equal(e.errno, "EINVAL");
        assert.equal(e.vmDestroyed, true);
        assert.doesNotMatch(e.message, /\n/);
        assert.match(
          e.message,
          /^pin: vCPU 0: KVM_SET_ONE_REG KVM_REG_ARM_PSCI_VERSION \(0x6030000000140000\) = 0x10003: EINVAL/,
        );
        return true;
      },
    );
  });

  it("explains a refused ID register with KVM's value and the writable mask", () => {
    const t = hostAbi("5.10"); // 5.10's ID_DFR0_EL1.PerfMon is above 7.2's limit
    assert.throws(
      () => createPinnedVm(openSimKvm({ generation: "7.2", cpu: "cortex-a72" }), t),
      /ID_DFR0_EL1 .*: EINVAL; KVM's value is 0x[0-9a-f]+; the differing bits are writable/,
    );
    assert.throws(
      () => createPinnedVm(openSimKvm({ generation: "6.1", cpu: "cortex-a72" }), t),
      /EINVAL; KVM's value is 0x[0-9a-f]+ and this kernel has no writable ID registers/,
    );
  });

  it("applies the kernel's order: vCPUs, init, the vGICv3 with the PMUs wired to it, ID, firmware, bitmaps", () => {
    const { system, log } = logged(openSimKvm({ generation: "7.2", cpu: "cortex-a72" }));
    const t = hostAbi("6.1", "cortex-a72", [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3]);
    t.firmware.set(FW_REGS.VENDOR_HYP_BMAP, 0b01n); // hide KVM_PTP (VENDOR_HYP_BIT_PTP)
    const { vm, report } = createPinnedVm(system, t, { vcpus: 2 });
    assert.deepEqual(collapse(log.filter((x) => x !== "kernelRelease")), [
      "createVm", // the VM, then a scratch VM: does the template's MIDR differ from the host's? (no cap)
      "createVcpu",
      "preferredTarget",
      "init",
      "destroy",
      "createVcpu",
      "preferredTarget",
      "init",
      "createDevice", // the vGICv3, then its ITS (their attributes go to the device fds)
      "setDeviceAttr", // each PMU's IRQ before CTRL_INIT, its INIT after (kvm_arm_pmu_v3_init)
      "setOneReg id",
      "setOneReg firmware",
      "setOneReg bitmap",
    ]);
    // The PMUs belong to the machine (vm/machine.ts), not to the vCPU attributes a restore replays.
    assert.deepEqual(
      vm.vcpus.map((v) => v.attrs.map((a) => `${a.group}/${a.attr}`)),
      [[], []],
    );
    assert.equal(vm.irqchip?.nrIrqs, 128);
    // 6.1's ABI on 7.2 (Cortex-A72): 6.1's host cache levels instead of 7.2's synthesized ones
    // (reset_clidr, 6.3+; set_clidr accepts them), PSCI 1.1 instead of 1.3, no PTP.
    assert.deepEqual(report.changed, [
      { id: CLIDR, before: 0x9200003n, after: 0xa200023n },
      { id: FW_REGS.PSCI_VERSION, before: 0x10003n, after: 0x10001n },
      { id: FW_REGS.VENDOR_HYP_BMAP, before: 0b11n, after: 0b01n },
    ]);
    assert.equal(vm.vcpus[1]!.vcpu.getOneReg(FW_REGS.VENDOR_HYP_BMAP), 0b01n);
    vm.vm.destroy();
  });

  it("leaves the caller's VM alive on failure (with its vCPU handles closed) and destroys its own", () => {
    const sys = openSimKvm({ generation: "6.1", cpu: "cortex-a72" });
    const vm = sys.createVm();
    assert.throws(
      () => pin(vm, hostAbi("7.2")),
      (e: unknown) =>
        e instanceof VmOpError &&
        !e.vmDestroyed &&
        /the VM \(the caller's\) now holds 1 vCPU/.test(e.message),
    );
    assert.equal(vm.checkExtension(1), vm.checkExtension(1)); // still usable: not destroyed
    // its vGICv3 is initialised: kvm_arch_vcpu_precreate refuses any further vCPU
    assert.throws(
      () => vm.createVcpu(0),
      (e: unknown) => KvmError.is(e, "EBUSY"),
    );
    vm.destroy();

    let created: KvmVm | undefined;
    const spy: KvmSystem = Object.create(sys, {
      createVm: { value: () => (created = sys.createVm()) },
    }) as KvmSystem;
    assert.throws(() => createPinnedVm(spy, hostAbi("7.2")), VmOpError);
    assert.throws(
      () => created!.createVcpu(5),
      (e: unknown) => KvmError.is(e, "EBADF"),
    );
  });

  it("stops at an injected fault of the n-th write, naming the register and errno, and destroys its VM", () => {
    const t = hostAbi("6.1");
    const inner = openSimKvm({ generation: "7.2", cpu: "cortex-a72" });
    let n = 0;
    const { system } = injectFaults(inner, [
      { when: (op) => op.op === "setOneReg" && ++n === 1, errno: "EIO" },
    ]);
    assert.throws(
      () => createPinnedVm(system, t),
      (e: unknown) =>
        e instanceof VmOpError &&
        e.errno === "EIO" &&
        e.register === CLIDR && // the first register 6.1's ABI changes on 7.2
        /^pin: vCPU 0: KVM_SET_ONE_REG CLIDR_EL1 \(0x603000000013c801\) = 0xa200023: EIO;.* the VM was destroyed$/.test(
          e.message,
        ) &&
        e.vmDestroyed,
    );
  });

  it("rejects a malformed template before touching KVM", () => {
    const t = hostAbi("6.1");
    t.features = [VCPU_FEATURES.SVE]; // SVE without sveVqs
    const sys = openSimKvm({ generation: "6.1", cpu: "cortex-a72" });
    const vm = sys.createVm();
    assert.throws(
      () => pin(vm, t),
      (e: unknown) => e instanceof VmOpError && e.kind === "input",
    );
    assert.doesNotThrow(() => vm.createVcpu(0)); // pin created nothing
  });

  it("pins SVE vector lengths before KVM_ARM_VCPU_FINALIZE", () => {
    const t = hostAbi("7.2", "max", [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.SVE]);
    assert.equal(t.sveVqs?.length, 16);
    t.sveVqs = [1, 2, 3, 4]; // 512-bit vectors at most
    const { vm } = createPinnedVm(openSimKvm({ generation: "7.2", cpu: "max" }), t);
    const ids = getRegList(vm.vcpus[0]!.vcpu);
    assert.ok(ids.includes(SVE_VLS_ID));
  });
});
