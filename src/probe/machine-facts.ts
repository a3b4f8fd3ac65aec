/**
 * The machine facts of a configuration (a profile's `configs[].machine`): how the VMM-style setup of the
 * vGICv3, ITS and PMU went, the GIC registers as userspace reads them before the first run, and write
 * trials, each on a fresh VM, of what KVM lets userspace select: the GICD_IIDR revision
 * (vgic_mmio_uaccess_write_v3_misc), the ITS table ABI (vgic_mmio_uaccess_write_its_iidr), the PMU's
 * counter count (kvm_arm_pmu_v3_set_nr_counters), and whether the first run forces the GIC ID field
 * (kvm_vgic_finalize_idregs).
 */
import {
  DEFAULT_IRQCHIP,
  GIC_REG,
  ITS_ATTR,
  VCPU_ATTR,
  attrU32,
  errnoOf,
  readDistReg,
  readItsReg,
  readRedistReg,
  writeDistReg,
  writeItsReg,
} from "../kvm/index.js";
import type { Irqchip, KvmSystem, KvmVcpu, guest } from "../kvm/index.js";
import { gicdIidr, gitsIidr } from "../kvm/rules/vgic.js";
import { runProbeProgram } from "../kvm/guest/run.js";
import { sysregId } from "../regs/index.js";
import type { MachineProfile, MachineRegName } from "../formats/profile.js";
import { destroySession, openSession } from "./session.js";
import type { Session, SessionOptions, VcpuConfig } from "./session.js";

const MPIDR_EL1 = sysregId(3, 0, 0, 0, 5);
const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);
const ID_AA64PFR0_EL1 = sysregId(3, 0, 0, 4, 0);
const PFR0_GIC = 0xfn << 24n;
/** An ITS GRP_CTRL attribute no kernel defines. */
const UNKNOWN_ITS_CTRL = 99n;
/** GICD_IIDR revisions tried: every one a kernel here reports or accepts, and one beyond. */
const IIDR_REVISIONS = [0, 1, 2, 3, 4];
const ITS_ABIS = [0, 1, 2];
/** KVM_ARM_VCPU_PMU_V3_CTRL attributes asked about: IRQ .. SET_NR_COUNTERS and one beyond. */
const PMU_ATTRS = [0, 1, 2, 3, 4, 5];

/** Which trials a configuration runs (the GIC's on one configuration, the PMU's where there is one). */
export type MachineTrials = "gic" | "pmu" | "none";

type Outcome = bigint | string;

function read(fn: () => bigint | number): Outcome {
  let v: Outcome = "";
  const r = errnoOf(() => {
    v = BigInt(fn());
  });
  return r === "ok" ? v : r;
}

/** The registers of `MACHINE_REGS` as userspace reads them (vCPU 0's redistributor). */
function readRegs(chip: Irqchip, vcpu: KvmVcpu): [MachineRegName, Outcome][] {
  const out: [MachineRegName, Outcome][] = [
    ["GICD_CTLR", read(() => readDistReg(chip.gic, GIC_REG.GICD_CTLR))],
    ["GICD_TYPER", read(() => readDistReg(chip.gic, GIC_REG.GICD_TYPER))],
    ["GICD_IIDR", read(() => readDistReg(chip.gic, GIC_REG.GICD_IIDR))],
    ["GICD_TYPER2", read(() => readDistReg(chip.gic, GIC_REG.GICD_TYPER2))],
  ];
  const mpidr = read(() => vcpu.getOneReg(MPIDR_EL1) as bigint);
  if (typeof mpidr === "bigint")
    out.push(
      ["GICR_CTLR", read(() => readRedistReg(chip.gic, mpidr, GIC_REG.GICR_CTLR))],
      ["GICR_IIDR", read(() => readRedistReg(chip.gic, mpidr, GIC_REG.GICR_IIDR))],
      ["GICR_TYPER", read(() => readRedistReg(chip.gic, mpidr, GIC_REG.GICR_TYPER, 8))],
    );
  const its = chip.its;
  if (its)
    out.push(
      ["GITS_CTLR", read(() => readItsReg(its, GIC_REG.GITS_CTLR))],
      ["GITS_IIDR", read(() => readItsReg(its, GIC_REG.GITS_IIDR))],
      ["GITS_TYPER", read(() => readItsReg(its, GIC_REG.GITS_TYPER))],
    );
  return out;
}

export interface MachineProbe {
  system: KvmSystem;
  config: VcpuConfig;
  trials: MachineTrials;
  /** The host's ID registers are writable (6.7+): try writing the GIC field away before a run. */
  writableIdRegs: boolean;
  program: guest.ProbeProgram;
}

/** Runs `fn` on a fresh session's irqchip; the outcome of `fn`, or how the setup failed. */
function onFresh(
  p: MachineProbe,
  opts: SessionOptions,
  fn: (s: Session & { irqchip: Irqchip }) => void,
): string {
  let s: Session | undefined;
  try {
    s = openSession(p.system, p.config, opts);
    const chip = s.irqchip;
    if (!s.ready || !chip) return s.steps.irqchipInit ?? s.steps.gic ?? s.steps.init;
    const session = { ...s, irqchip: chip };
    return errnoOf(() => fn(session));
  } finally {
    destroySession(s);
  }
}

/**
 * A write trial on a fresh VM: "ok" when KVM took the value and reads it back, "ignored" when it returned
 * 0 but kept the old value, or the errno.
 */
function writeTrial(p: MachineProbe, write: (s: Session & { irqchip: Irqchip }) => boolean): string {
  let kept = true;
  const r = onFresh(p, {}, (s) => {
    kept = write(s);
  });
  return r === "ok" && !kept ? "ignored" : r;
}

/** The machine facts of `main`, a session set up for p.config that has not run yet. */
export function machineFacts(p: MachineProbe, main: Session): MachineProfile {
  const out: MachineProfile = {
    nrIrqs: DEFAULT_IRQCHIP.nrIrqs,
    its: DEFAULT_IRQCHIP.its,
    steps: {
      gic: main.steps.gic ?? "ENODEV",
      ...(main.steps.irqchipInit !== undefined ? { init: main.steps.irqchipInit } : {}),
    },
  };
  const chip = main.irqchip;
  if (!chip || main.steps.irqchipInit !== "ok") return out;
  out.regs = readRegs(chip, main.vcpu);

  if (p.trials === "gic") {
    let before: Outcome = "";
    const setup = onFresh(p, { irqchipUninitialized: true }, (s) => {
      before = read(() => readDistReg(s.irqchip.gic, GIC_REG.GICD_IIDR));
    });
    out.iidrBeforeInit = setup === "ok" ? before : setup;
    out.iidrWrites = IIDR_REVISIONS.map((rev) => {
      const value = gicdIidr(rev);
      return [
        value,
        writeTrial(p, (s) => {
          writeDistReg(s.irqchip.gic, GIC_REG.GICD_IIDR, value);
          return readDistReg(s.irqchip.gic, GIC_REG.GICD_IIDR) === value;
        }),
      ];
    });
    out.itsIidrWrites = ITS_ABIS.map((abi) => {
      const value = gitsIidr(abi);
      return [
        value,
        writeTrial(p, (s) => {
          const its = s.irqchip.its;
          if (!its) return true;
          writeItsReg(its, GIC_REG.GITS_IIDR, BigInt(value));
          return readItsReg(its, GIC_REG.GITS_IIDR) === BigInt(value);
        }),
      ];
    });
    out.itsUnknownCtrl = onFresh(p, {}, (s) =>
      s.irqchip.its?.setDeviceAttr(ITS_ATTR.CTRL.group, UNKNOWN_ITS_CTRL),
    );
    if (p.writableIdRegs) {
      let after: Outcome = "";
      const r = onFresh(p, {}, (s) => {
        const pfr0 = s.vcpu.getOneReg(ID_AA64PFR0_EL1) as bigint;
        s.vcpu.setOneReg(ID_AA64PFR0_EL1, pfr0 & ~PFR0_GIC);
        runProbeProgram(s.vm, s.vcpu, p.program);
        after = read(() => s.vcpu.getOneReg(ID_AA64PFR0_EL1) as bigint);
      });
      out.gicFieldAfterRun = r === "ok" ? after : r;
    }
  }

  if (p.trials === "pmu") {
    const pmu = VCPU_ATTR.PMU_V3_CTRL;
    out.pmuAttrs = PMU_ATTRS.map((attr) => {
      let has = false;
      const r = errnoOf(() => {
        has = main.vcpu.hasDeviceAttr(pmu.group, BigInt(attr));
      });
      return [attr, r === "ok" ? has : r];
    });
    const pmcr = read(() => main.vcpu.getOneReg(PMCR_EL0) as bigint);
    const hasNrCounters = out.pmuAttrs.some(([a, has]) => a === Number(pmu.SET_NR_COUNTERS) && has === true);
    if (typeof pmcr === "bigint" && hasNrCounters) {
      const n = Number((pmcr >> 11n) & 0x1fn);
      out.nrCountersWrites = [n, n + 1].map((count) => [
        count,
        // Before the PMU's INIT: kvm_arm_pmu_v3_set_attr refuses everything after it (EBUSY).
        onFresh(p, { irqchipUninitialized: true }, (s) =>
          s.vcpu.setDeviceAttr(pmu.group, pmu.SET_NR_COUNTERS, attrU32(count)),
        ),
      ]);
    }
  }
  return out;
}
