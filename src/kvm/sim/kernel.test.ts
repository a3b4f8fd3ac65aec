/**
 * Simulated-kernel rules not covered elsewhere: KVM_GET_REG_LIST's exact count and E2BIG, the SMCCC
 * filter's errnos, vCPU targets, the counter registers, device attributes, MMIO completion.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COPROC } from "../../regs/id.js";
import { KvmError, errnoOf } from "../errors.js";
import { getPc, getRegList, setPc, setX } from "../helpers.js";
import { ARM_TARGETS, KVM_CAP, packSmcccFilter } from "../uapi.js";
import { regValueToBytes } from "../values.js";
import { CPU_MODELS, cpuModel } from "./cpus.js";
import type { CpuModel } from "./cpus.js";
import { SIM_GENERATIONS, SimSystem, guestAbiFingerprint } from "./index.js";
import type { SimGeneration } from "./index.js";

const TIMER_CNT = 0x603000000013df1an;
const TIMER_CVAL = 0x603000000013df02n;

/**
 * The Cortex-A72 model with its caches pinned (L1 I + D, unified L2: CLIDR 0x0a200023, three CCSIDR ids),
 * so the counts below do not move with the CPU data.
 */
const A72: CpuModel = {
  ...cpuModel("cortex-a72"),
  cache: { clidr: 0x0a200023n, ccsidr: { 0: 0x701fe00an, 1: 0x201fe012n, 2: 0x707fe07an } },
};

function vcpu(gen: SimGeneration, cpu: string | CpuModel = A72, features = [2]) {
  const sys = new SimSystem({ generation: gen, cpu });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  v.init({ target: vm.preferredTarget().target, features });
  return { sys, vm, v };
}

describe("KVM_GET_REG_LIST (kvm_arm_num_regs / kvm_arm_copy_reg_indices)", () => {
  // Each generation's count for a PSCI_0_2-only vCPU on the A72: core 75 (struct kvm_regs: x0-x30, sp,
  // pc, pstate, sp_el1, elr_el1, spsr[5], vregs[32], fpsr, fpcr) + firmware + bitmaps + sys_reg_descs
  // (+ the timer's own three before 7.x) + the demux CCSIDRs: the A72's 3 caches before 6.3, CSSELR_MAX
  // (14) from 6.3 on. Cross-check with the selftest (get-reg-list.c, base_regs + vregs): 5.10 lists 311
  // (its list predates the WORKAROUND_3 backport: +1); 6.1 239, 6.12 247 (minus POR_EL0/POR_EL1 the A72
  // lacks: 245), 7.2 249 (minus SCTLR2_EL1, TCR2_EL1, PIRE0_EL1, PIR_EL1, POR_EL1, POR_EL0: 243); from 6.1
  // the selftest filters KVM_REG_ARM_DEMUX out. The real kernels agree (lab/profiles, README's table).
  const COUNTS: [SimGeneration, number, Record<string, number>][] = [
    ["5.10", 312, { core: 75, demux: 3, sysreg: 230, fw: 4 }],
    ["5.10-amzn", 315, { core: 75, demux: 3, sysreg: 233, fw: 4 }], // + PTIMER_CTL/CNT/CVAL
    ["6.1", 242, { core: 75, demux: 3, sysreg: 157, fw: 4, fwBitmap: 3 }],
    ["6.1-amzn", 245, { core: 75, demux: 3, sysreg: 160, fw: 4, fwBitmap: 3 }], // + PTIMER_CTL/CNT/CVAL
    ["6.12", 259, { core: 75, demux: 14, sysreg: 163, fw: 4, fwBitmap: 3 }],
    ["6.18", 257, { core: 75, demux: 14, sysreg: 160, fw: 4, fwBitmap: 4 }], // 7.2's list (the fingerprints)
    ["7.2", 257, { core: 75, demux: 14, sysreg: 160, fw: 4, fwBitmap: 4 }],
  ];
  const CLASS: Record<number, string> = {
    [COPROC.core]: "core",
    [COPROC.demux]: "demux",
    [COPROC.sysreg]: "sysreg",
    [COPROC.fw]: "fw",
    [COPROC.fwBitmap]: "fwBitmap",
  };
  for (const [gen, count, byClass] of COUNTS)
    it(`${gen}: E2BIG with required = ${count} for a short buffer, the list for an exact one`, () => {
      const { v } = vcpu(gen);
      for (const cap of [0, 1, count - 1]) {
        try {
          v.getRegListRaw(cap);
          assert.fail(`capacity ${cap}: expected E2BIG`);
        } catch (e) {
          assert.ok(KvmError.is(e, "E2BIG"), String(e));
          assert.equal(e.required, count);
        }
      }
      const list = v.getRegListRaw(count);
      assert.equal(list.length, count);
      assert.equal(v.getRegListRaw(count + 10).length, count);
      const seen: Record<string, number> = {};
      for (const id of list) {
        const c = CLASS[Number((id >> 16n) & 0xfffn)]!;
        seen[c] = (seen[c] ?? 0) + 1;
      }
      assert.deepEqual(seen, byClass);
    });

  it("ENOEXEC before KVM_ARM_VCPU_INIT; EPERM with SVE before KVM_ARM_VCPU_FINALIZE", () => {
    const sys = new SimSystem({ generation: "7.2", cpu: "max" });
    const vm = sys.createVm();
    const v = vm.createVcpu(0);
    assert.equal(
      errnoOf(() => v.getRegListRaw(1000)),
      "ENOEXEC",
    );
    v.init({ target: 5, features: [2, 4] });
    assert.equal(
      errnoOf(() => v.getRegListRaw(1000)),
      "EPERM",
    );
    v.finalize(4);
    assert.ok(v.getRegListRaw(1000).length > 246);
  });

  it("7.2 keeps the uapi timer ids in sys_reg_descs order (copy_reg_to_user): TIMER_CNT before TIMER_CVAL", () => {
    const list = getRegList(vcpu("7.2").v);
    const cnt = list.indexOf(TIMER_CNT);
    const cval = list.indexOf(TIMER_CVAL);
    assert.ok(cnt >= 0 && cval > cnt, `${cnt} ${cval}`);
  });

  it("lists a feature-gated register only while the VM's ID field shows the feature (walk_one_sys_reg)", () => {
    // "next" (synthetic): PFAR_EL1 visible while ID_AA64PFR1_EL1.PFAR != 0
    const { v } = vcpu("next");
    const PFR1 = 0x603000000013c021n;
    const PFAR_EL1 = 0x603000000013c305n;
    assert.ok(getRegList(v).includes(PFAR_EL1));
    v.setOneReg(PFR1, (v.getOneReg(PFR1) as bigint) & ~(0xfn << 60n));
    assert.ok(!getRegList(v).includes(PFAR_EL1));
    assert.equal(
      errnoOf(() => v.getOneReg(PFAR_EL1)),
      "ENOENT",
    ); // sysreg_hidden -> -ENOENT
  });
});

describe("the counter registers are VM-wide (update_vtimer_cntvoff / timer_set_offset)", () => {
  for (const gen of ["5.10", "6.12", "7.2"] as const)
    it(`${gen}: KVM_REG_ARM_TIMER_CNT written through vCPU 0 is read through vCPU 1`, () => {
      const sys = new SimSystem({ generation: gen, cpu: A72 });
      const vm = sys.createVm();
      const [v0, v1] = [vm.createVcpu(0), vm.createVcpu(1)];
      v0.init({ target: 5, features: [2] });
      v1.init({ target: 5, features: [2] });
      v0.setOneReg(TIMER_CNT, 0x1234_5678n);
      assert.equal(v1.getOneReg(TIMER_CNT), 0x1234_5678n);
      v0.setOneReg(TIMER_CVAL, 0x99n);
      assert.equal(v0.getOneReg(TIMER_CVAL), 0x99n);
      assert.equal(v1.getOneReg(TIMER_CVAL), 0n, "CVAL is per vCPU");
    });
});

describe("vCPU creation and KVM_ARM_VCPU_INIT targets (kvm_vcpu_set_target, kvm_target_cpu)", () => {
  it("5.10/6.1 on a Cortex-A57 host: the preferred target is CORTEX_A57 (2) and GENERIC_V8 is EINVAL", () => {
    for (const gen of ["5.10", "6.1"] as const) {
      const vm = new SimSystem({ generation: gen, cpu: "cortex-a57" }).createVm();
      assert.equal(vm.preferredTarget().target, ARM_TARGETS.CORTEX_A57);
      assert.equal(
        errnoOf(() => vm.createVcpu(0).init({ target: ARM_TARGETS.GENERIC_V8, features: [2] })),
        "EINVAL",
      );
      const v = vm.createVcpu(1);
      assert.equal(
        errnoOf(() => v.init({ target: ARM_TARGETS.CORTEX_A57, features: [2] })),
        "ok",
      );
    }
  });

  it("6.12/7.2: the preferred target is GENERIC_V8; kvm_target_cpu() is still accepted", () => {
    for (const gen of ["6.12", "7.2"] as const) {
      const vm = new SimSystem({ generation: gen, cpu: "cortex-a57" }).createVm();
      assert.equal(vm.preferredTarget().target, ARM_TARGETS.GENERIC_V8);
      assert.equal(
        errnoOf(() => vm.createVcpu(0).init({ target: ARM_TARGETS.CORTEX_A57, features: [2] })),
        "ok",
      );
      assert.equal(
        errnoOf(() => vm.createVcpu(1).init({ target: ARM_TARGETS.GENERIC_V8, features: [2] })),
        "ok",
      );
      assert.equal(
        errnoOf(() => vm.createVcpu(2).init({ target: ARM_TARGETS.CORTEX_A53, features: [2] })),
        "EINVAL",
      );
    }
  });

  it("KVM_CREATE_VCPU after another vCPU's init is fine (kvm_arch_vcpu_precreate: EBUSY needs a vGIC)", () => {
    for (const gen of ["5.10", "6.1", "6.12", "7.2"] as const) {
      const { vm } = vcpu(gen);
      assert.equal(
        errnoOf(() => vm.createVcpu(1)),
        "ok",
      );
      assert.equal(
        errnoOf(() => vm.createVcpu(1)),
        "EEXIST",
      );
      assert.equal(
        errnoOf(() => vm.createVcpu(512)),
        "EINVAL",
      );
    }
  });
});

describe("the SMCCC filter (kvm_smccc_set_filter) and VM device attributes", () => {
  const filter = (base: number, nrFunctions: number, action: "HANDLE" | "DENY" | "FWD_TO_USER" = "DENY") =>
    packSmcccFilter({ base, nrFunctions, action });

  it("6.12/7.2 errnos: pad EINVAL, action EINVAL, the Arm architecture range and overlaps EEXIST, EBUSY after run", () => {
    for (const gen of ["6.12", "7.2"] as const) {
      const { vm, v } = vcpu(gen);
      const padded = filter(0xc4000000, 1);
      padded[20] = 1;
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, padded)),
        "EINVAL",
      );
      const bad = filter(0xc4000000, 1);
      bad[8] = 3; // NR_SMCCC_FILTER_ACTIONS
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, bad)),
        "EINVAL",
      );
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, filter(0xfffffff0, 0x20))),
        "EINVAL",
      ); // end < start
      // kvm_smccc_filter_insert_reserved: the SMC32/SMC64 Arm architecture ranges stay with KVM
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, filter(0x80000000, 1))),
        "EEXIST",
      );
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, filter(0xc000fff0, 0x20))),
        "EEXIST",
      );
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, filter(0x84000000, 0x20))),
        "ok",
      );
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, filter(0x8400001f, 1))),
        "EEXIST",
      );
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(1, 0n, filter(0xc6000000, 1))),
        "ENXIO",
      );
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 1n, filter(0xc6000000, 1))),
        "ENXIO",
      );
      v.setOneReg(0x6030000000100040n, 0x7000_0000n);
      v.run();
      assert.equal(
        errnoOf(() => vm.setDeviceAttr(0, 0n, filter(0xc6000000, 1))),
        "EBUSY",
      );
    }
  });

  it("nr_functions 0 at base 0: 6.12 inserts [0, 0xffffffff] and hits the reserved range (EEXIST); 7.2 refuses it (EINVAL)", () => {
    assert.equal(
      errnoOf(() => vcpu("6.12").vm.setDeviceAttr(0, 0n, filter(0, 0))),
      "EEXIST",
    );
    assert.equal(
      errnoOf(() => vcpu("7.2").vm.setDeviceAttr(0, 0n, filter(0, 0))),
      "EINVAL",
    );
  });

  it("before 6.4 the VM has no device attributes (EINVAL); KVM_GET_DEVICE_ATTR on the VM is EINVAL everywhere", () => {
    const old = vcpu("6.1").vm;
    assert.equal(
      errnoOf(() => old.hasDeviceAttr(0, 0n)),
      "EINVAL",
    );
    assert.equal(
      errnoOf(() => old.setDeviceAttr(0, 0n, filter(0xc6000000, 1))),
      "EINVAL",
    );
    for (const gen of ["5.10", "6.1", "6.12", "7.2"] as const)
      assert.equal(
        errnoOf(() => vcpu(gen).vm.getDeviceAttr(0, 0n, 24)),
        "EINVAL",
      );
    const vm = vcpu("7.2").vm;
    assert.equal(vm.hasDeviceAttr(0, 0n), true);
    assert.equal(vm.hasDeviceAttr(0, 1n), false);
    assert.equal(vm.hasDeviceAttr(1, 0n), false);
  });
});

describe("MMIO completion (kvm_handle_mmio_return)", () => {
  it("steps past the access at the next KVM_RUN even if userspace moved PC in between", () => {
    const { vm, v } = vcpu("7.2");
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x4000_0000n, size: 0x10000 });
    // 0x0: str xzr, [x28]; 0x4: str xzr, [x28, #8]; 0x100: str xzr, [x28, #16]; 0x104: str xzr, [x28, #24]
    vm.writeGuestMemory(0, 0, new Uint8Array([0x9f, 0x03, 0x00, 0xf9, 0x9f, 0x07, 0x00, 0xf9]));
    vm.writeGuestMemory(0, 0x100, new Uint8Array([0x9f, 0x0b, 0x00, 0xf9, 0x9f, 0x0f, 0x00, 0xf9]));
    setX(v, 28, 0x1000_0000n);
    setPc(v, 0x4000_0000n);
    const e = v.run();
    assert.ok(e.reason === "MMIO" && e.address === 0x1000_0000n);
    assert.equal(getPc(v), 0x4000_0000n);
    setPc(v, 0x4000_0100n);
    const e2 = v.run();
    assert.ok(e2.reason === "MMIO" && e2.address === 0x1000_0018n, "0x104 ran, 0x100 was skipped");
  });
});

describe("vCPU state KVM keeps before the first run (rules the lab's probe does not exercise)", () => {
  const VLS = 0x606000000015ffffn;
  const vls = (vqs: number) => {
    const b = new Uint8Array(64);
    b[0] = vqs;
    return b;
  };
  it("KVM_REG_ARM64_SVE_VLS before KVM_ARM_VCPU_FINALIZE: the host's lengths up to a maximum, else EINVAL (set_sve_vls)", () => {
    // QEMU's a64fx implements 128, 256 and 512-bit vectors (VQ 1, 2, 4)
    const sys = new SimSystem({ generation: "6.12", cpu: "a64fx" });
    const vm = sys.createVm();
    const v = vm.createVcpu(0);
    v.init({ target: vm.preferredTarget().target, features: [2, 4] });
    assert.deepEqual(v.getOneReg(VLS), vls(0b1011));
    assert.equal(
      errnoOf(() => v.setOneReg(VLS, vls(0b0111))),
      "EINVAL",
    ); // VQ 3 is not the host's
    assert.equal(
      errnoOf(() => v.setOneReg(VLS, vls(0b1001))),
      "EINVAL",
    ); // a length below the maximum left out
    assert.equal(
      errnoOf(() => v.setOneReg(VLS, vls(0))),
      "EINVAL",
    );
    v.setOneReg(VLS, vls(0b0011));
    assert.deepEqual(v.getOneReg(VLS), vls(0b0011));
    v.finalize(4);
    assert.equal(
      errnoOf(() => v.setOneReg(VLS, vls(0b0011))),
      "EPERM",
    );
  });

  it("POWER_OFF is a vCPU feature before 6.7 and ephemeral after (kvm_arch_vcpu_ioctl_vcpu_init)", () => {
    for (const [gen, reinit] of [
      ["6.1", "EINVAL"],
      ["6.12", "ok"],
    ] as const) {
      const sys = new SimSystem({ generation: gen, cpu: A72 });
      const vm = sys.createVm();
      const target = vm.preferredTarget().target;
      const [v0, v1] = [vm.createVcpu(0), vm.createVcpu(1)];
      v0.init({ target, features: [2] });
      v1.init({ target, features: [0, 2] }); // a secondary vCPU starting powered off
      assert.equal(
        errnoOf(() => v1.init({ target, features: [2] })),
        reinit,
        gen,
      );
    }
  });

  it("CCSIDR: invariant before 6.3, per vCPU from 6.3 with at least CTR_EL0's line size (set_ccsidr)", () => {
    const CCSIDR0 = 0x6020000000110000n;
    const CCSIDR1 = 0x6020000000110001n;
    const old = vcpu("6.1").v;
    assert.equal(old.getOneReg(CCSIDR0), 0x701fe00an);
    assert.equal(
      errnoOf(() => old.setOneReg(CCSIDR0, 0x2n)),
      "EINVAL",
    );
    const { v } = vcpu("7.2"); // A72: CTR_EL0.DminLine 4 (64 bytes): LineSize 2
    assert.equal(v.getOneReg(CCSIDR0), 0x2n);
    assert.equal(
      errnoOf(() => v.setOneReg(CCSIDR0, 0x1n)),
      "EINVAL",
    );
    v.setOneReg(CCSIDR0, 0x701fe00an);
    assert.equal(v.getOneReg(CCSIDR0), 0x701fe00an);
    assert.equal(v.getOneReg(CCSIDR1), 0x2n);
  });

  it("CCSIDR before 6.3 is get_ccsidr's u32: a FEAT_CCIDX CPU's demux value is its low 32 bits (demux_c15_get)", () => {
    // Neoverse V1/V2: CCSIDR_EL1 0x000000ff0000001a (L1 D and I), 0x000007ff0000003a / 0x00000fff0000003a
    // (L2), 64-bit format; the Firecracker fingerprints of 5.10/6.1 hosts read 0x1a, 0x1a, 0x3a
    const ids = [0x6020000000110000n, 0x6020000000110001n, 0x6020000000110002n];
    for (const [gen, cpu] of [
      ["5.10", "neoverse-v1-silicon"],
      ["6.1", "neoverse-v1-silicon"],
      ["5.10-amzn", "neoverse-v2-silicon"],
      ["6.1-amzn", "neoverse-v2-silicon"],
    ] as const) {
      const { v } = vcpu(gen, cpu);
      assert.deepEqual(
        ids.map((id) => v.getOneReg(id)),
        [0x1an, 0x1an, 0x3an],
        gen,
      );
      v.setOneReg(ids[2]!, 0x3an); // demux_c15_set: equal to get_ccsidr's u32
      assert.equal(
        errnoOf(() => v.setOneReg(ids[0]!, 0x1bn)),
        "EINVAL",
      );
    }
  });

  it("timer CTL: ISTATUS from the counter and CVAL on 5.10..6.12 (read_timer_ctl), the saved CTL from 6.18", () => {
    const [CTL, PCTL, PCVAL] = [0x603000000013df19n, 0x603000000013df11n, 0x603000000013df12n];
    // at reset (CVAL 0, ENABLE 0): the lab's every 5.10..6.12 profile reads 0x4, 7.2 reads 0
    // (the vendor kernels list the physical timer too; 6.18 reads as 7.2: the Firecracker fingerprints)
    const EXPECTED: [SimGeneration, bigint, bigint | undefined][] = [
      ["5.10", 0x4n, undefined],
      ["5.10-amzn", 0x4n, 0x4n],
      ["6.1", 0x4n, undefined],
      ["6.1-amzn", 0x4n, 0x4n],
      ["6.12", 0x4n, 0x4n],
      ["6.18", 0x0n, 0x0n],
      ["7.2", 0x0n, 0x0n],
    ];
    for (const [gen, ctl, pctl] of EXPECTED) {
      const { v } = vcpu(gen);
      const list = v.getRegListRaw(4096);
      assert.equal(v.getOneReg(CTL), ctl, gen);
      assert.equal(list.includes(PCTL) ? v.getOneReg(PCTL) : undefined, pctl, gen);
    }
    const { v } = vcpu("6.12");
    const now = v.getOneReg(TIMER_CNT) as bigint;
    v.setOneReg(TIMER_CVAL, now + 0x100000n); // ahead of the counter: kvm_timer_compute_delta() > 0
    assert.equal(v.getOneReg(CTL), 0x0n);
    v.setOneReg(CTL, 0x7n); // kvm_arm_timer_set_reg drops ISTATUS: ENABLE | IMASK stored
    assert.equal(v.getOneReg(CTL), 0x3n);
    v.setOneReg(TIMER_CVAL, now); // passed
    assert.equal(v.getOneReg(CTL), 0x7n);
    assert.equal(v.getOneReg(PCTL), 0x4n); // the physical timer's own CVAL (0)
    v.setOneReg(PCVAL, 0xffffffffffffffffn);
    assert.equal(v.getOneReg(PCTL), 0x0n);
    const { v: v72 } = vcpu("7.2");
    v72.setOneReg(CTL, 0x5n); // arch_timer_set_user drops ISTATUS; arch_timer_get_user returns what is saved
    assert.equal(v72.getOneReg(CTL), 0x1n);
  });

  it("every listed register of every CPU model and generation reads a value of its size", () => {
    for (const gen of SIM_GENERATIONS)
      for (const cpu of Object.keys(CPU_MODELS)) {
        const { v } = vcpu(gen, cpu, [2, 3]); // PSCI_0_2, PMU_V3
        for (const id of v.getRegListRaw(4096))
          assert.doesNotThrow(
            () => regValueToBytes(id, v.getOneReg(id)),
            `${gen}/${cpu} 0x${id.toString(16)}`,
          );
      }
  });
});

describe("vendor kernels and 6.18: what the guest sees beside their upstream neighbours", () => {
  const lines = (gen: SimGeneration, cpu: string) =>
    guestAbiFingerprint(new SimSystem({ generation: gen, cpu })).lines;
  const added = (from: SimGeneration, to: SimGeneration, cpu: string) => {
    const [a, b] = [lines(from, cpu), lines(to, cpu)];
    return { gained: b.filter((l) => !a.includes(l)), lost: a.filter((l) => !b.includes(l)) };
  };

  it("5.10-amzn: the KVM vendor service without bitmaps (KVM_FEATURES = FEATURES | PTP)", () => {
    assert.deepEqual(added("5.10", "5.10-amzn", "neoverse-n1-silicon"), {
      gained: [
        "VENDOR_HYP_CALL_UID: 0xb66fb428 0xe911c52e 0x564bcaa9 0x743a004d",
        "VENDOR_HYP_KVM_FEATURES: 0x3 0x0 0x0 0x0",
      ],
      lost: [
        "VENDOR_HYP_CALL_UID: 0xffffffffffffffff 0x0 0x0 0x0",
        "VENDOR_HYP_KVM_FEATURES: 0xffffffffffffffff 0x0 0x0 0x0",
      ],
    });
  });

  it('6.1-amzn: FEAT_CCIDX hidden ("KVM: arm64: Mask FEAT_CCIDX")', () => {
    assert.deepEqual(added("6.1", "6.1-amzn", "neoverse-v1-silicon"), {
      gained: ["ID_MMFR4_EL1: 0x21110", "ID_AA64MMFR2_EL1: 0x220011102001011"],
      lost: ["ID_MMFR4_EL1: 0x1021110", "ID_AA64MMFR2_EL1: 0x220011102101011"],
    });
  });

  it("6.18: the guest sees what 7.2's does but ID_PFR1_EL1.GIC; KVM_CAP_ARM_SEA_TO_USER is 7.2's alone", () => {
    // Debian's 6.18.15 sets ID_PFR1_EL1.GIC when the vGICv3 is created, without 32-bit EL0 too (the lab's
    // a64fx); 7.2's kvm_vgic_finalize_idregs only with it (Graviton4 has none)
    assert.deepEqual(added("7.2", "6.18", "neoverse-v2-silicon"), {
      gained: ["ID_PFR1_EL1: 0x10000000"],
      lost: ["ID_PFR1_EL1: 0x0"],
    });
    const caps = (gen: SimGeneration) => {
      const sys = new SimSystem({ generation: gen, cpu: "neoverse-v2-silicon" });
      return Object.values(KVM_CAP).filter((c) => sys.checkExtension(c) !== 0);
    };
    const only72 = caps("7.2").filter((c) => !caps("6.18").includes(c));
    assert.deepEqual(only72, [KVM_CAP.ARM_SEA_TO_USER]);
  });
});
