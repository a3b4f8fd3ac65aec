/**
 * The machine around a managed VM's vCPUs: the vGICv3 and ITS every VMM builds (kvm/machine.ts), built
 * once all vCPUs are initialised, with each PMU wired to it, and the part of its state that is guest
 * ABI: the GICD_IIDR revision (vgic_mmio_uaccess_write_v3_misc) and the ITS table ABI
 * (vgic_mmio_uaccess_write_its_iidr). A host that offers no vGICv3 (KVM_CREATE_DEVICE: ENODEV) gets a VM
 * without an irqchip, its PMUs initialised on their own as before.
 */
import {
  DEFAULT_IRQCHIP,
  GIC_REG,
  KVM_ARM_VM_SMCCC_CTRL,
  KVM_ARM_VM_SMCCC_FILTER,
  VCPU_ATTR,
  VCPU_FEATURES,
  createIrqchip,
  createIrqchipIfOffered,
  initIrqchip,
  packSmcccFilter,
  readDistReg,
  readItsReg,
  writeDistReg,
  writeItsReg,
} from "../kvm/index.js";
import type { Irqchip, IrqchipSpec, KvmVm } from "../kvm/index.js";
import { gicdIidr, gitsIidr, iidrRevision } from "../kvm/rules/vgic.js";
import { sysregId } from "../regs/index.js";
import type { DeviceAttr, MachineState } from "../formats/snapshot.js";
import type { MachinePins } from "../formats/machine-pins.js";
import { VmOpError, getOneRegStep, kvmStep, setOneRegStep } from "./managed-vm.js";
import type { ManagedVcpu, VmOpStage } from "./managed-vm.js";

const PMU_INIT: DeviceAttr = {
  group: VCPU_ATTR.PMU_V3_CTRL.group,
  attr: VCPU_ATTR.PMU_V3_CTRL.INIT,
  data: new Uint8Array(),
};

/** What the irqchip holds now, as a snapshot records it. */
export function machineStateOf(chip: Irqchip, stage: VmOpStage): MachineState {
  const gicdIidr = kvmStep(stage, { op: "KVM_GET_DEVICE_ATTR(GICD_IIDR)" }, () =>
    readDistReg(chip.gic, GIC_REG.GICD_IIDR),
  );
  const its = chip.its;
  return {
    nrIrqs: chip.nrIrqs,
    its: its !== null,
    gicdIidr,
    ...(its
      ? {
          gitsIidr: Number(
            kvmStep(stage, { op: "KVM_GET_DEVICE_ATTR(GITS_IIDR)" }, () =>
              readItsReg(its, GIC_REG.GITS_IIDR),
            ),
          ),
        }
      : {}),
  };
}

/**
 * Builds the VM's interrupt controller after every vCPU is initialised: the vGICv3 (and ITS) of `spec`,
 * each PMU's interrupt, CTRL_INIT, each PMU's INIT. Without a vGICv3 on the host, each PMU gets its INIT
 * alone (recorded in the vCPU's attributes, which a restore replays). Returns the irqchip, if any.
 */
export function buildMachine(
  stage: VmOpStage,
  vm: KvmVm,
  vcpus: ManagedVcpu[],
  opts: { spec?: IrqchipSpec; initPmu?: boolean } = {},
): Irqchip | undefined {
  const pmu =
    opts.initPmu === false ? [] : vcpus.filter((v) => v.init.features.includes(VCPU_FEATURES.PMU_V3));
  // A snapshot's machine must be rebuilt; a new VM gets one where the host offers a vGICv3.
  const spec = opts.spec;
  const chip = kvmStep(stage, { op: "KVM_CREATE_DEVICE(VGIC_V3) and its frames" }, () =>
    spec ? createIrqchip(vm, spec) : createIrqchipIfOffered(vm, DEFAULT_IRQCHIP),
  );
  if (!chip) {
    for (const v of pmu) {
      kvmStep(stage, { op: "KVM_SET_DEVICE_ATTR(PMU_V3_INIT)", vcpu: v.vcpu.id }, () =>
        v.vcpu.setDeviceAttr(PMU_INIT.group, PMU_INIT.attr),
      );
      v.attrs.push(PMU_INIT);
    }
    return undefined;
  }
  kvmStep(stage, { op: "KVM_DEV_ARM_VGIC_CTRL_INIT (with the PMUs' IRQ and INIT)" }, () =>
    initIrqchip(
      chip,
      pmu.map((v) => v.vcpu),
    ),
  );
  return chip;
}

/**
 * Sets the guest-ABI revisions of an initialised irqchip where they differ: GICD_IIDR (after CTRL_INIT:
 * 5.10-6.12 refuse register access before vgic_init) and GITS_IIDR (before any ITS table is restored).
 * Returns what it changed, for the report.
 */
export function setMachineRevisions(
  stage: VmOpStage,
  chip: Irqchip,
  want: { gicdIidr?: number; gitsIidr?: number },
): string[] {
  const changed: string[] = [];
  if (want.gicdIidr !== undefined) {
    const value = want.gicdIidr;
    const now = kvmStep(stage, { op: "KVM_GET_DEVICE_ATTR(GICD_IIDR)" }, () =>
      readDistReg(chip.gic, GIC_REG.GICD_IIDR),
    );
    if (now !== value) {
      kvmStep(stage, { op: `KVM_SET_DEVICE_ATTR(GICD_IIDR = 0x${value.toString(16)})` }, () =>
        writeDistReg(chip.gic, GIC_REG.GICD_IIDR, value),
      );
      changed.push(`GICD_IIDR revision ${iidrRevision(now)} -> ${iidrRevision(value)}`);
    }
  }
  const its = chip.its;
  if (want.gitsIidr !== undefined && its) {
    const value = want.gitsIidr;
    const now = Number(
      kvmStep(stage, { op: "KVM_GET_DEVICE_ATTR(GITS_IIDR)" }, () => readItsReg(its, GIC_REG.GITS_IIDR)),
    );
    if (now !== value) {
      kvmStep(stage, { op: `KVM_SET_DEVICE_ATTR(GITS_IIDR = 0x${value.toString(16)})` }, () =>
        writeItsReg(its, GIC_REG.GITS_IIDR, BigInt(value)),
      );
      changed.push(`ITS table ABI ${iidrRevision(now)} -> ${iidrRevision(value)}`);
    }
  }
  return changed;
}

const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);
/** PMCR_EL0.N: bits 15:11. */
const PMCR_N = 0x1fn << 11n;

/**
 * Applies a template's machine pins to a VM whose irqchip is initialised and whose vCPUs have not run:
 * the GICD_IIDR revision and ITS table ABI (setMachineRevisions), the PMU's counter count through
 * KVM_SET_ONE_REG(PMCR_EL0) on every PMU vCPU (sys_regs.c set_pmcr from 6.7; stored verbatim before:
 * the check says when that is unsafe), the VM counter offset (KVM_ARM_SET_COUNTER_OFFSET) and the SMCCC
 * filter ranges (kvm_smccc_set_filter). Returns what it did, for the report.
 */
export function applyMachinePins(
  stage: VmOpStage,
  vm: KvmVm,
  vcpus: readonly ManagedVcpu[],
  chip: Irqchip | undefined,
  pins: MachinePins,
): string[] {
  const done: string[] = [];
  if (pins.gicdIidrRevision !== undefined || pins.itsAbi !== undefined) {
    if (!chip)
      throw new VmOpError(
        stage,
        "refused",
        "the template pins the vGIC's revisions, and this host offers no vGICv3",
      );
    done.push(
      ...setMachineRevisions(stage, chip, {
        ...(pins.gicdIidrRevision !== undefined ? { gicdIidr: gicdIidr(pins.gicdIidrRevision) } : {}),
        ...(pins.itsAbi !== undefined ? { gitsIidr: gitsIidr(pins.itsAbi) } : {}),
      }),
    );
  }
  const n = pins.pmuCounters;
  if (n !== undefined)
    for (const v of vcpus) {
      if (!v.init.features.includes(VCPU_FEATURES.PMU_V3)) continue;
      const pmcr = getOneRegStep(stage, v.vcpu, PMCR_EL0) as bigint;
      const want = (pmcr & ~PMCR_N) | (BigInt(n) << 11n);
      if (want === pmcr) continue;
      setOneRegStep(stage, v.vcpu, PMCR_EL0, want);
      if (v === vcpus[0]) done.push(`PMCR_EL0.N ${(pmcr & PMCR_N) >> 11n} -> ${n}`);
    }
  const offset = pins.counterOffset;
  if (offset !== undefined) {
    kvmStep(stage, { op: `KVM_ARM_SET_COUNTER_OFFSET 0x${offset.toString(16)}` }, () =>
      vm.setCounterOffset(offset),
    );
    done.push(`counter offset 0x${offset.toString(16)}`);
  }
  for (const r of pins.smcccFilter ?? []) {
    kvmStep(
      stage,
      {
        op: `KVM_SET_DEVICE_ATTR(KVM_ARM_VM_SMCCC_FILTER 0x${r.base.toString(16)}+${r.nrFunctions} ${r.action})`,
      },
      () => vm.setDeviceAttr(KVM_ARM_VM_SMCCC_CTRL, KVM_ARM_VM_SMCCC_FILTER, packSmcccFilter(r)),
    );
    done.push(`SMCCC filter 0x${r.base.toString(16)}+${r.nrFunctions} ${r.action}`);
  }
  return done;
}
