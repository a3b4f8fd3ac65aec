import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sysregId } from "../../regs/id.js";
import { errnoOf } from "../errors.js";
import {
  attrU32,
  attrU64,
  createIrqchip,
  initIrqchip,
  readDistReg,
  readItsReg,
  readRedistReg,
  writeDistReg,
  writeItsReg,
} from "../machine.js";
import type { Irqchip } from "../machine.js";
import type { KvmDevice } from "../types.js";
import {
  GIC_REG,
  ITS_ATTR,
  KVM_DEVICE_TYPE,
  VCPU_ATTR,
  VGIC_ATTR,
  capNumber,
  redistRegAttr,
  redistRegion,
} from "../uapi.js";
import { TIMER_CNT } from "./common.js";
import { SimSystem } from "./index.js";
import { mmio } from "./run.js";
import type { SimGeneration } from "./index.js";
import type { SimVcpu } from "./vcpu.js";

const GENS = ["5.10", "6.1", "6.12", "6.18", "7.2"] as const satisfies readonly SimGeneration[];
const MPIDR_EL1 = sysregId(3, 0, 0, 0, 5);
const ID_AA64PFR0_EL1 = sysregId(3, 0, 0, 4, 0);
const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);
const PMU = VCPU_ATTR.PMU_V3_CTRL;
const MSI_DEVID = capNumber("MSI_DEVID");
const GICR_SIZE = 0x2_0000n;

/** A VM with `n` vCPUs initialised as a VMM does (PSCI 0.2, optionally the PMU), on a Neoverse N1 host. */
function vmWith(generation: SimGeneration, opts: { n?: number; pmu?: boolean; ipaBits?: number } = {}) {
  const sys = new SimSystem({ generation, cpu: "neoverse-n1" });
  const vm = sys.createVm(opts.ipaBits ? { ipaBits: opts.ipaBits } : {});
  const cpus = Array.from({ length: opts.n ?? 2 }, (_, i) => vm.createVcpu(i));
  for (const c of cpus) c.init({ target: vm.preferredTarget().target, features: opts.pmu ? [2, 3] : [2] });
  return { sys, vm, cpus };
}

/** The machine every VMM builds: vGICv3 (128 interrupts), ITS, CTRL_INIT. */
function machine(generation: SimGeneration, opts: { its?: boolean; pmu?: boolean } = {}) {
  const { vm, cpus } = vmWith(generation, { pmu: opts.pmu });
  const chip = createIrqchip(vm, { nrIrqs: 128, its: opts.its ?? true });
  initIrqchip(chip, opts.pmu ? cpus : []);
  return { vm, cpus, chip };
}

const mpidr = (c: SimVcpu) => c.getOneReg(MPIDR_EL1) as bigint;
const gicField = (c: SimVcpu) => Number(((c.getOneReg(ID_AA64PFR0_EL1) as bigint) >> 24n) & 0xfn);
/** The first KVM_RUN: the guest has no memory, so it ends interrupted once the first-run work is done. */
const firstRun = (c: SimVcpu) => assert.equal(c.run().reason, "INTR");
const setAddr = (gic: KvmDevice, type: bigint, addr: bigint) =>
  errnoOf(() => gic.setDeviceAttr(VGIC_ATTR.ADDR.group, type, attrU64(addr)));

describe("the vGICv3 and ITS a VMM builds (createIrqchip, initIrqchip), per generation", () => {
  // facts §2.1, §3, §4: GICD_IIDR's revision 2 on 5.10, 3 after; GICR_TYPER's Last through userspace from 6.1
  const expected: Record<
    (typeof GENS)[number],
    { iidr: number; typer1: bigint; gicdIidrPreInit: number | "EBUSY" }
  > = {
    "5.10": { iidr: 0x4b00243b, typer1: 0x0000_0001_0000_0101n, gicdIidrPreInit: "EBUSY" },
    "6.1": { iidr: 0x4b00343b, typer1: 0x0000_0001_0000_0111n, gicdIidrPreInit: "EBUSY" },
    "6.12": { iidr: 0x4b00343b, typer1: 0x0000_0001_0000_0111n, gicdIidrPreInit: "EBUSY" },
    "6.18": { iidr: 0x4b00343b, typer1: 0x0000_0001_0000_0111n, gicdIidrPreInit: 0x4b00343b },
    "7.2": { iidr: 0x4b00343b, typer1: 0x0000_0001_0000_0111n, gicdIidrPreInit: 0x4b00343b },
  };
  for (const gen of GENS) {
    const e = expected[gen];
    it(`${gen}: distributor, redistributors and ITS as userspace reads them`, () => {
      const { vm, cpus, chip } = machine(gen);
      assert.equal(readDistReg(chip.gic, GIC_REG.GICD_IIDR), e.iidr);
      assert.equal(readDistReg(chip.gic, GIC_REG.GICD_TYPER), 0x007a0003);
      assert.equal(readDistReg(chip.gic, GIC_REG.GICD_CTLR), 0x50);
      assert.equal(readDistReg(chip.gic, GIC_REG.GICD_TYPER2), 0);
      assert.equal(readRedistReg(chip.gic, mpidr(cpus[0]!), GIC_REG.GICR_TYPER, 8), 0x1n);
      assert.equal(readRedistReg(chip.gic, mpidr(cpus[1]!), GIC_REG.GICR_TYPER, 8), e.typer1);
      assert.equal(readRedistReg(chip.gic, mpidr(cpus[1]!), GIC_REG.GICR_IIDR), 0x4b00043bn);
      assert.equal(readItsReg(chip.its!, GIC_REG.GITS_IIDR), 0x4b00043bn);
      assert.equal(readItsReg(chip.its!, GIC_REG.GITS_TYPER), 0x1ef71n);
      assert.equal(readItsReg(chip.its!, GIC_REG.GITS_CTLR), 0x8000_0000n);
      assert.equal(readItsReg(chip.its!, GIC_REG.GITS_BASER0), 0x1907_0000_0000_0600n);
      assert.equal(readItsReg(chip.its!, GIC_REG.GITS_BASER0 + 8), 0x1c07_0000_0000_0600n);
      assert.equal(readItsReg(chip.its!, GIC_REG.GITS_BASER0 + 16), 0n);
      assert.equal(vm.checkExtension(MSI_DEVID), 1);
      // NR_IRQS reads back; writes to TYPER are ignored (vgic_mmio_write_v3_misc)
      assert.deepEqual([...chip.gic.getDeviceAttr(VGIC_ATTR.NR_IRQS.group, 0n, 4)], [128, 0, 0, 0]);
      writeDistReg(chip.gic, GIC_REG.GICD_TYPER, 0);
      assert.equal(readDistReg(chip.gic, GIC_REG.GICD_TYPER), 0x007a0003);
    });

    it(`${gen}: without an ITS, GICD_TYPER has 10 ID bits and no LPIs; GICR_TYPER no PLPIS`, () => {
      const { vm, cpus, chip } = machine(gen, { its: false });
      assert.equal(readDistReg(chip.gic, GIC_REG.GICD_TYPER), 0x00480003);
      assert.equal(readRedistReg(chip.gic, mpidr(cpus[0]!), GIC_REG.GICR_TYPER, 8), 0n);
      assert.equal(vm.checkExtension(MSI_DEVID), 0);
    });

    it(`${gen}: GICD_IIDR before CTRL_INIT, and the revisions userspace may write`, () => {
      const { vm, cpus } = vmWith(gen);
      const chip = createIrqchip(vm, { nrIrqs: 128, its: true });
      const pre = errnoOf(() => readDistReg(chip.gic, GIC_REG.GICD_IIDR));
      if (e.gicdIidrPreInit === "EBUSY") assert.equal(pre, "EBUSY");
      else assert.equal(readDistReg(chip.gic, GIC_REG.GICD_IIDR), e.gicdIidrPreInit);
      // the redistributors are never readable before CTRL_INIT
      assert.equal(
        errnoOf(() => readRedistReg(chip.gic, mpidr(cpus[0]!), GIC_REG.GICR_TYPER)),
        "EBUSY",
      );
      initIrqchip(chip);
      const write = (v: number) => errnoOf(() => writeDistReg(chip.gic, GIC_REG.GICD_IIDR, v));
      const rdCtlr = () => readRedistReg(chip.gic, mpidr(cpus[0]!), GIC_REG.GICR_CTLR);
      if (gen === "5.10") {
        assert.equal(write(0x4b00343b), "EINVAL");
        assert.equal(write(0x4b00243b), "ok");
        assert.equal(rdCtlr(), 0n);
      } else if (gen === "6.18") {
        // Debian's 6.18.15 as the lab measured it: every write returns 0 and changes nothing
        for (const v of [0x4b00243b, 0x4b00143b, 0x4b00443b, 0x4c00343b]) assert.equal(write(v), "ok");
        assert.equal(readDistReg(chip.gic, GIC_REG.GICD_IIDR), 0x4b00343b);
        assert.equal(rdCtlr(), 0x6n);
        return;
      } else {
        assert.equal(rdCtlr(), 0x6n); // IR | CES at revision 3
        assert.equal(write(0x4b00243b), "ok");
        assert.equal(readDistReg(chip.gic, GIC_REG.GICD_IIDR), 0x4b00243b);
        assert.equal(rdCtlr(), 0n);
        assert.equal(write(0x4b00343b), "ok");
        assert.equal(rdCtlr(), 0x6n);
      }
      assert.equal(write(0x4b00143b), "EINVAL"); // revision 1
      assert.equal(write(0x4c00343b), "EINVAL"); // another product
      assert.equal(write(0x4b00443b), "EINVAL"); // revision 4
    });
  }
});

describe("vGIC creation and configuration errors", () => {
  it("one vGICv3 per VM; no vGICv2 on a GICv3 host; unknown types; none after a vCPU ran", () => {
    const { vm, cpus } = vmWith("6.12");
    assert.equal(
      errnoOf(() => vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V2)),
      "ENODEV",
    );
    assert.equal(
      errnoOf(() => vm.createDevice(0)),
      "ENODEV",
    );
    vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    assert.equal(
      errnoOf(() => vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3)),
      "EEXIST",
    );
    const other = vmWith("6.12");
    firstRun(other.cpus[0]!);
    assert.equal(
      errnoOf(() => other.vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3)),
      "EBUSY",
    );
    void cpus;
  });

  for (const gen of ["5.10", "6.1", "7.2"] as const) {
    it(`${gen}: frame addresses (vgic_check_${gen === "5.10" ? "ioaddr" : "iorange"})`, () => {
      const { vm } = vmWith(gen, { ipaBits: 40 });
      const gic = vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
      const { DIST, REDIST, REDIST_REGION } = VGIC_ATTR.ADDR;
      assert.equal(setAddr(gic, 9n, 0x0800_0000n), "ENXIO"); // no such address type
      assert.equal(setAddr(gic, DIST, 0x0800_1000n), "EINVAL"); // not 64 KiB aligned
      assert.equal(setAddr(gic, DIST, 1n << 40n), "E2BIG"); // beyond the IPA space
      assert.equal(setAddr(gic, DIST, 0x0800_0000n), "ok");
      assert.equal(setAddr(gic, DIST, 0x0900_0000n), "EEXIST");
      // a legacy region of two redistributors (256 KiB) whose end passes the IPA size
      assert.equal(setAddr(gic, REDIST, (1n << 40n) - 0x2_0000n), gen === "5.10" ? "ok" : "E2BIG");
      if (gen !== "5.10") assert.equal(setAddr(gic, REDIST, 0x080a_0000n), "ok");
      // set twice: vgic_v3_insert_redist_region (5.10) / vgic_v3_alloc_redist_region
      assert.equal(setAddr(gic, REDIST, 0x0a00_0000n), gen === "5.10" ? "EINVAL" : "EEXIST");
      // regions: count 0 and flags are EINVAL; after a legacy region EINVAL as well
      assert.equal(
        setAddr(gic, REDIST_REGION, redistRegion({ index: 1, base: 0x0b00_0000n, count: 0 })),
        "EINVAL",
      );
      assert.equal(
        setAddr(gic, REDIST_REGION, redistRegion({ index: 1, base: 0x0b00_0000n, count: 1 }) | 0x1000n),
        "EINVAL",
      );
      assert.deepEqual(
        [...gic.getDeviceAttr(VGIC_ATTR.ADDR.group, DIST, 8)],
        [0, 0, 0, 8, 0, 0, 0, 0], // 0x08000000 little-endian
      );
    });
  }

  it("REDIST_REGION: the first index is 0, the next the last + 1; regions may not overlap", () => {
    const { vm } = vmWith("6.12");
    const gic = vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    const set = (index: number, base: bigint, count: number) =>
      setAddr(gic, VGIC_ATTR.ADDR.REDIST_REGION, redistRegion({ index, base, count }));
    assert.equal(set(1, 0x0a00_0000n, 1), "EINVAL");
    assert.equal(set(0, 0x0a00_0000n, 1), "ok");
    assert.equal(set(2, 0x0b00_0000n, 1), "EINVAL");
    assert.equal(set(1, 0x0a00_0000n, 1), "EINVAL"); // overlaps region 0
    assert.equal(set(1, 0x0a02_0000n, 1), "ok"); // right after it
    assert.equal(setAddr(gic, VGIC_ATTR.ADDR.REDIST, 0x0c00_0000n), "EINVAL"); // legacy after regions
  });

  it("NR_IRQS: 64..1023 in steps of 32, once, and not after CTRL_INIT", () => {
    const nr = (gic: KvmDevice, n: number) =>
      errnoOf(() => gic.setDeviceAttr(VGIC_ATTR.NR_IRQS.group, 0n, attrU32(n)));
    const { vm } = vmWith("5.10");
    const gic = vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    assert.deepEqual(
      [32, 48, 100, 1024].map((n) => nr(gic, n)),
      ["EINVAL", "EINVAL", "EINVAL", "EINVAL"],
    );
    assert.equal(nr(gic, 96), "ok");
    assert.equal(nr(gic, 128), "EBUSY");
    const b = vmWith("7.2").vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    b.setDeviceAttr(VGIC_ATTR.CTRL.group, VGIC_ATTR.CTRL.INIT);
    // vgic_init's default: 256 interrupts
    assert.deepEqual([...b.getDeviceAttr(VGIC_ATTR.NR_IRQS.group, 0n, 4)], [0, 1, 0, 0]);
    assert.equal(nr(b, 128), "EBUSY");
  });

  it("CTRL: INIT is idempotent, vCPUs cannot be added after it, unknown controls are ENXIO", () => {
    const { vm } = vmWith("6.1");
    const chip = createIrqchip(vm, { nrIrqs: 128, its: false });
    assert.equal(chip.gic.hasDeviceAttr(VGIC_ATTR.CTRL.group, VGIC_ATTR.CTRL.INIT), true);
    assert.equal(chip.gic.hasDeviceAttr(VGIC_ATTR.CTRL.group, 9n), false);
    assert.equal(
      errnoOf(() => chip.gic.setDeviceAttr(VGIC_ATTR.CTRL.group, 9n)),
      "ENXIO",
    );
    assert.equal(
      errnoOf(() => vm.createVcpu(2)),
      "ok",
    ); // before CTRL_INIT: placed in the legacy region
    initIrqchip(chip);
    initIrqchip(chip);
    assert.equal(
      errnoOf(() => vm.createVcpu(3)),
      "EBUSY",
    );
  });

  it("register attributes: the target vCPU, unknown offsets, has_attr", () => {
    const { cpus, chip } = machine("6.12");
    const { gic } = chip;
    // no vCPU with MPIDR affinity 0.0.0.5
    assert.equal(
      errnoOf(() => gic.getDeviceAttr(VGIC_ATTR.REDIST_REGS.group, redistRegAttr(5n, 8), 4)),
      "EINVAL",
    );
    assert.equal(gic.hasDeviceAttr(VGIC_ATTR.DIST_REGS.group, BigInt(GIC_REG.GICD_IIDR)), true);
    assert.equal(gic.hasDeviceAttr(VGIC_ATTR.DIST_REGS.group, 0x9n), false); // misaligned
    assert.equal(gic.hasDeviceAttr(VGIC_ATTR.DIST_REGS.group, 0x20n), false); // no register
    assert.equal(gic.hasDeviceAttr(VGIC_ATTR.REDIST_REGS.group, redistRegAttr(mpidr(cpus[1]!), 0xa0)), true); // GICR_INVLPIR
    assert.equal(readDistReg(gic, 0x20), 0); // read 0
    writeDistReg(gic, 0x20, 0xffff_ffff); // ignored
    assert.equal(readDistReg(gic, 0xffe8), 0x3b); // GICD_PIDR2
    // GICR_INVLPIR is no register on 5.10
    const old = machine("5.10");
    assert.equal(
      old.chip.gic.hasDeviceAttr(VGIC_ATTR.REDIST_REGS.group, redistRegAttr(mpidr(old.cpus[1]!), 0xa0)),
      false,
    );
  });

  it("the ITS: its frame, registers and controls", () => {
    for (const gen of ["6.12", "7.2"] as const) {
      const { vm } = vmWith(gen);
      const its = vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_ITS);
      assert.equal(vm.checkExtension(MSI_DEVID), 1);
      // registers need the frame (vgic_its_attr_regs_access)
      assert.equal(
        errnoOf(() => readItsReg(its, GIC_REG.GITS_IIDR)),
        "ENXIO",
      );
      const addr = (type: bigint, a: bigint) =>
        errnoOf(() => its.setDeviceAttr(ITS_ATTR.ADDR.group, type, attrU64(a)));
      assert.equal(addr(3n, 0x0808_0000n), "ENODEV");
      assert.equal(addr(ITS_ATTR.ADDR.ITS, 0x0808_8000n), "EINVAL");
      assert.equal(addr(ITS_ATTR.ADDR.ITS, (1n << 40n) - 0x1_0000n), "E2BIG"); // half the frame beyond the IPA
      assert.equal(addr(ITS_ATTR.ADDR.ITS, 0x0808_0000n), "ok");
      assert.equal(addr(ITS_ATTR.ADDR.ITS, 0x0808_0000n), "EEXIST");
      assert.equal(
        errnoOf(() => its.getDeviceAttr(ITS_ATTR.REGS.group, 0x9n, 8)),
        "EINVAL",
      ); // misaligned
      assert.equal(
        errnoOf(() => its.getDeviceAttr(ITS_ATTR.REGS.group, 0x40n, 8)),
        "ENXIO",
      ); // no register
      assert.equal(
        errnoOf(() => writeItsReg(its, GIC_REG.GITS_IIDR, 0x4b00143bn)),
        "EINVAL",
      ); // no ABI rev 1
      assert.equal(
        errnoOf(() => writeItsReg(its, GIC_REG.GITS_IIDR, 0x0n)),
        "ok",
      ); // only the revision counts
      assert.equal(readItsReg(its, GIC_REG.GITS_IIDR), 0x4b00043bn);
      // BASER: Type and Entry_Size are read-only, the page size 64 KiB
      writeItsReg(its, GIC_REG.GITS_BASER0, (1n << 63n) | 0x1234_0000n);
      assert.equal(readItsReg(its, GIC_REG.GITS_BASER0), (1n << 63n) | 0x0107_0000_1234_0200n);
      its.setDeviceAttr(ITS_ATTR.CTRL.group, ITS_ATTR.CTRL.RESET);
      assert.equal(readItsReg(its, GIC_REG.GITS_BASER0), 0x0107_0000_1234_0200n); // Valid cleared
      assert.equal(its.hasDeviceAttr(ITS_ATTR.CTRL.group, ITS_ATTR.CTRL.RESET), true);
      assert.equal(its.hasDeviceAttr(ITS_ATTR.CTRL.group, 7n), false);
      assert.equal(
        errnoOf(() => its.setDeviceAttr(ITS_ATTR.CTRL.group, 7n)),
        gen === "7.2" ? "ENXIO" : "ok",
      );
    }
  });
});

describe("the first KVM_RUN with a vGICv3 (kvm_vgic_map_resources)", () => {
  it("needs the distributor, a redistributor for every vCPU, no overlap, CTRL_INIT", () => {
    const { DIST, REDIST, REDIST_REGION } = VGIC_ATTR.ADDR;
    const init = (gic: KvmDevice) => gic.setDeviceAttr(VGIC_ATTR.CTRL.group, VGIC_ATTR.CTRL.INIT);
    // no redistributors
    let t = vmWith("6.12");
    let gic = t.vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    setAddr(gic, DIST, 0x0800_0000n);
    init(gic);
    assert.equal(
      errnoOf(() => t.cpus[0]!.run()),
      "ENXIO",
    );
    // a region too small for both vCPUs
    t = vmWith("6.12");
    gic = t.vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    setAddr(gic, DIST, 0x0800_0000n);
    setAddr(gic, REDIST_REGION, redistRegion({ index: 0, base: 0x080a_0000n, count: 1 }));
    init(gic);
    assert.equal(
      errnoOf(() => t.cpus[0]!.run()),
      "ENXIO",
    );
    // no distributor
    t = vmWith("5.10");
    gic = t.vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    setAddr(gic, REDIST, 0x080a_0000n);
    init(gic);
    assert.equal(
      errnoOf(() => t.cpus[0]!.run()),
      "ENXIO",
    );
    // the distributor inside the redistributors' region
    t = vmWith("7.2");
    gic = t.vm.createDevice(KVM_DEVICE_TYPE.ARM_VGIC_V3);
    setAddr(gic, REDIST_REGION, redistRegion({ index: 0, base: 0x080a_0000n, count: 2 }));
    assert.equal(setAddr(gic, DIST, 0x080b_0000n), "ok");
    init(gic);
    assert.equal(
      errnoOf(() => t.cpus[0]!.run()),
      "EINVAL",
    );
    // no CTRL_INIT
    t = vmWith("6.1");
    createIrqchip(t.vm, { nrIrqs: 128, its: true });
    assert.equal(
      errnoOf(() => t.cpus[0]!.run()),
      "EBUSY",
    );
    // done right
    const ok = machine("6.1");
    firstRun(ok.cpus[0]!);
    firstRun(ok.cpus[1]!);
  });

  // facts §7: without a vGIC 6.12+ clear ID_AA64PFR0_EL1.GIC at the first run; with one it stays 1
  const gicAfterRun: Record<(typeof GENS)[number], [number, number]> = {
    "5.10": [1, 1],
    "6.1": [1, 1],
    "6.12": [0, 1],
    "6.18": [0, 1],
    "7.2": [0, 1],
  };
  for (const gen of GENS)
    it(`${gen}: ID_AA64PFR0_EL1.GIC after the first run, without and with a vGICv3`, () => {
      const bare = vmWith(gen);
      assert.equal(gicField(bare.cpus[0]!), 1);
      firstRun(bare.cpus[0]!);
      const withGic = machine(gen);
      firstRun(withGic.cpus[0]!);
      assert.deepEqual([gicField(bare.cpus[1]!), gicField(withGic.cpus[1]!)], gicAfterRun[gen]);
    });

  it("a GIC field written to 0: 6.12 keeps it, 7.2 forces it back (kvm_vgic_finalize_idregs)", () => {
    for (const [gen, after] of [
      ["6.12", 0],
      ["7.2", 1],
    ] as const) {
      const { cpus } = machine(gen);
      const v = cpus[0]!.getOneReg(ID_AA64PFR0_EL1) as bigint;
      cpus[0]!.setOneReg(ID_AA64PFR0_EL1, v & ~(0xfn << 24n));
      assert.equal(gicField(cpus[1]!), 0);
      firstRun(cpus[0]!);
      assert.equal(gicField(cpus[1]!), after, gen);
    }
  });
});

describe("the guest's MMIO to the GIC frames, served in the kernel", () => {
  const exitReason = (r: ReturnType<typeof mmio>) => (typeof r === "object" ? r.reason : r);
  const load = (c: SimVcpu, address: bigint, len: number) =>
    mmio(c, { address, isWrite: false, len, rt: 1, data: new Uint8Array(len) });
  const store = (c: SimVcpu, address: bigint, len: number, v: number) => {
    const data = new Uint8Array(len);
    new DataView(data.buffer).setUint32(0, v, true);
    return mmio(c, { address, isWrite: true, len, rt: 1, data });
  };

  function mapped(gen: SimGeneration): { cpus: SimVcpu[]; chip: Irqchip } {
    const { cpus, chip } = machine(gen);
    const c = cpus[0]!;
    // before the first run the frames are not mapped: an exit to userspace
    assert.equal(exitReason(load(c, chip.layout.dist + 8n, 4)), "MMIO");
    c.mmioPending = undefined;
    firstRun(c);
    return { cpus, chip };
  }

  it("reads GICD, GICR and GITS registers into Rt", () => {
    const { cpus, chip } = mapped("6.12");
    const c = cpus[0]!;
    const { dist, redist, its } = chip.layout;
    const reads: [bigint, number, bigint][] = [
      [dist + 0x0n, 4, 0x50n], // GICD_CTLR
      [dist + 0x4n, 4, 0x007a0003n], // GICD_TYPER
      [dist + 0x8n, 4, 0x4b00343bn], // GICD_IIDR
      [dist + 0xcn, 4, 0n], // GICD_TYPER2
      [dist + 0xffe8n, 4, 0x3bn], // GICD_PIDR2
      [dist + 0x8n, 8, 0n], // GICD_IIDR does not take 64-bit accesses
      [redist + 0x0n, 4, 0x6n], // GICR_CTLR (revision 3)
      [redist + 0x4n, 4, 0x4b00043bn], // GICR_IIDR
      [redist + 0x8n, 8, 0x1n], // vCPU 0's GICR_TYPER
      [redist + GICR_SIZE + 0x8n, 8, 0x0000_0001_0000_0111n], // vCPU 1's
      [redist + GICR_SIZE + 0xcn, 4, 0x1n], // its upper half
      [redist + 0xffe8n, 4, 0x3bn], // GICR_PIDR2
      [its + 0x0n, 4, 0x8000_0000n], // GITS_CTLR
      [its + 0x4n, 4, 0x4b00043bn], // GITS_IIDR
      [its + 0x8n, 8, 0x1ef71n], // GITS_TYPER
      [its + 0x8n, 4, 0x1ef71n], // its lower half
    ];
    for (const [address, len, value] of reads)
      assert.equal(load(c, address, len), value, `0x${address.toString(16)}/${len}`);
    // a store enables the distributor; GICD_IIDR's stores are ignored
    assert.equal(store(c, dist, 4, 0x2), undefined);
    assert.equal(store(c, dist + 8n, 4, 0x4b00243b), undefined);
    assert.equal(load(c, dist, 4), 0x52n);
    assert.equal(readDistReg(chip.gic, GIC_REG.GICD_IIDR), 0x4b00343b);
    // outside the frames: an exit
    assert.equal(exitReason(load(c, 0x0900_0000n, 4)), "MMIO");
  });

  it("5.10: GICR_CTLR without IR/CES; GICR_TYPER's Last as the guest sees it", () => {
    const { cpus, chip } = mapped("5.10");
    const c = cpus[1]!;
    assert.equal(load(c, chip.layout.redist, 4), 0n);
    // userspace reads it without Last (0x...101)
    assert.equal(load(c, chip.layout.redist + GICR_SIZE + 8n, 8), 0x0000_0001_0000_0111n);
  });
});

describe("the PMU wired to the vGIC", () => {
  const setIrq = (c: SimVcpu, irq: number) =>
    errnoOf(() => c.setDeviceAttr(PMU.group, PMU.IRQ, attrU32(irq)));
  const pmuInit = (c: SimVcpu) => errnoOf(() => c.setDeviceAttr(PMU.group, PMU.INIT));

  it("its interrupt: an irqchip, a PPI or SPI, the same PPI on every vCPU, set once; INIT after CTRL_INIT", () => {
    const bare = vmWith("6.12", { pmu: true });
    assert.equal(setIrq(bare.cpus[0]!, 23), "EINVAL"); // no in-kernel irqchip
    assert.equal(pmuInit(bare.cpus[0]!), "ok"); // no interrupt needed then
    const { vm, cpus } = vmWith("6.12", { pmu: true });
    const chip = createIrqchip(vm, { nrIrqs: 128, its: true });
    const [a, b] = [cpus[0]!, cpus[1]!];
    assert.equal(setIrq(a, 15), "EINVAL"); // an SGI
    assert.equal(setIrq(a, 1020), "EINVAL");
    assert.equal(pmuInit(a), "ENODEV"); // before CTRL_INIT
    assert.equal(setIrq(a, 23), "ok");
    assert.equal(setIrq(a, 23), "EBUSY");
    assert.equal(setIrq(b, 22), "EINVAL"); // another PPI than vCPU 0's
    assert.deepEqual([...a.getDeviceAttr(PMU.group, PMU.IRQ, 4)], [23, 0, 0, 0]);
    assert.equal(
      errnoOf(() => b.getDeviceAttr(PMU.group, PMU.IRQ, 4)),
      "ENXIO",
    );
    initIrqchip(chip);
    assert.equal(pmuInit(b), "ENXIO"); // no interrupt
    assert.equal(setIrq(b, 23), "ok");
    assert.equal(pmuInit(a), "ok");
    assert.equal(pmuInit(b), "ok");
    assert.equal(setIrq(a, 23), "EBUSY"); // after INIT
    firstRun(a);
  });

  it("without the PMU feature: ENODEV", () => {
    const { cpus } = machine("7.2");
    assert.equal(setIrq(cpus[0]!, 23), "ENODEV");
  });

  for (const gen of ["6.12", "6.18", "7.2"] as const)
    it(`${gen}: SET_NR_COUNTERS ${gen === "6.12" ? "is absent" : "sets PMCR_EL0.N of every vCPU"}`, () => {
      const { vm, cpus } = vmWith(gen, { pmu: true });
      const chip = createIrqchip(vm, { nrIrqs: 128, its: true });
      const n = (c: SimVcpu) => Number(((c.getOneReg(PMCR_EL0) as bigint) >> 11n) & 0x1fn);
      const set = (c: SimVcpu, v: number) =>
        errnoOf(() => c.setDeviceAttr(PMU.group, PMU.SET_NR_COUNTERS, attrU32(v)));
      assert.equal(n(cpus[0]!), 6); // the Neoverse N1's counters
      if (gen === "6.12") {
        assert.equal(cpus[0]!.hasDeviceAttr(PMU.group, PMU.SET_NR_COUNTERS), false);
        assert.equal(set(cpus[0]!, 3), "ENXIO");
        return;
      }
      assert.equal(cpus[0]!.hasDeviceAttr(PMU.group, PMU.SET_NR_COUNTERS), true);
      assert.equal(set(cpus[0]!, 7), "EINVAL");
      assert.equal(set(cpus[0]!, 3), "ok");
      assert.deepEqual(cpus.map(n), [3, 3]);
      // a vCPU reset keeps the VM's count
      cpus[1]!.init({ target: vm.preferredTarget().target, features: [2, 3] });
      assert.equal(n(cpus[1]!), 3);
      initIrqchip(chip, cpus);
      assert.equal(set(cpus[0]!, 2), "EBUSY"); // after this vCPU's INIT
    });

  it("PMCR_EL0.N through ONE_REG: 6.1 stores it, 6.12 takes it up to the hardware's and only before the run", () => {
    const n = (c: SimVcpu) => Number(((c.getOneReg(PMCR_EL0) as bigint) >> 11n) & 0x1fn);
    const withN = (c: SimVcpu, v: number) =>
      c.setOneReg(PMCR_EL0, ((c.getOneReg(PMCR_EL0) as bigint) & ~(0x1fn << 11n)) | (BigInt(v) << 11n));
    const old = vmWith("6.1", { pmu: true }).cpus[0]!;
    withN(old, 9);
    assert.equal(n(old), 9);
    const t = vmWith("6.12", { pmu: true });
    const [a, b] = [t.cpus[0]!, t.cpus[1]!];
    withN(a, 4);
    assert.deepEqual([n(a), n(b)], [4, 4]); // the VM's count
    withN(a, 9);
    assert.equal(n(a), 4); // above the hardware's 6: ignored
    for (const c of t.cpus) c.setDeviceAttr(PMU.group, PMU.INIT);
    firstRun(a);
    withN(a, 2);
    assert.equal(n(a), 4); // after the first run: ignored
  });

  it("the event filter: EINVAL for a bad action, EBUSY after the run from 6.1", () => {
    const filter = (action: number) => {
      const f = new Uint8Array(8);
      new DataView(f.buffer).setUint16(2, 16, true); // events 0..15
      f[4] = action;
      return f;
    };
    for (const [gen, afterRun] of [
      ["5.10", "ok"],
      ["6.1", "EBUSY"],
    ] as const) {
      const { cpus } = vmWith(gen, { pmu: true, n: 2 });
      const [a, b] = [cpus[0]!, cpus[1]!];
      assert.equal(
        errnoOf(() => b.setDeviceAttr(PMU.group, PMU.FILTER, filter(2))),
        "EINVAL",
      );
      assert.equal(
        errnoOf(() => b.setDeviceAttr(PMU.group, PMU.FILTER, filter(1))),
        "ok",
      );
      a.setDeviceAttr(PMU.group, PMU.INIT);
      firstRun(a);
      assert.equal(
        errnoOf(() => b.setDeviceAttr(PMU.group, PMU.FILTER, filter(0))),
        afterRun,
        gen,
      );
    }
  });
});

describe("KVM_ARM_SET_COUNTER_OFFSET", () => {
  it("EINVAL before 6.4; then the VM's counters and ONE_REG writes of TIMER_CNT ignored", () => {
    for (const gen of ["5.10", "6.1"] as const)
      assert.equal(
        errnoOf(() => vmWith(gen).vm.setCounterOffset(0x100n)),
        "EINVAL",
      );
    const { vm, cpus } = vmWith("6.12");
    const c = cpus[0]!;
    c.setOneReg(TIMER_CNT, 0x800n); // without the offset: the VM's offset follows the write
    assert.equal(c.getOneReg(TIMER_CNT), 0x800n);
    vm.setCounterOffset(0x100n);
    assert.equal(c.getOneReg(TIMER_CNT), 0x1000n - 0x100n); // the simulated physical counter is at 0x1000
    c.setOneReg(TIMER_CNT, 0x5n);
    assert.equal(cpus[1]!.getOneReg(TIMER_CNT), 0xf00n);
    assert.equal(
      errnoOf(() => vmWith("7.2").vm.setCounterOffset(0n)),
      "ok",
    );
  });
});
