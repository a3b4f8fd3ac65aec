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
  KvmError,
  VCPU_ATTR,
  VCPU_FEATURES,
  createIrqchip,
  initIrqchip,
  readDistReg,
  readItsReg,
  writeDistReg,
  writeItsReg,
} from "../kvm/index.js";
import type { Irqchip, IrqchipSpec, KvmVm } from "../kvm/index.js";
import { iidrRevision } from "../kvm/rules/vgic.js";
import type { DeviceAttr, MachineState } from "../formats/snapshot.js";
import { VmOpError, kvmStep } from "./managed-vm.js";
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
  let chip: Irqchip | undefined;
  try {
    chip = createIrqchip(vm, opts.spec ?? DEFAULT_IRQCHIP);
  } catch (e) {
    // kvm_ioctl_create_device: no vGICv3 on this host
    if (!(e instanceof KvmError && e.errno === "ENODEV") || opts.spec)
      throw new VmOpError(stage, "kvm", `KVM_CREATE_DEVICE(VGIC_V3) and its frames: ${(e as Error).message}`);
  }
  if (!chip) {
    for (const v of pmu) {
      kvmStep(stage, { op: "KVM_SET_DEVICE_ATTR(PMU_V3_INIT)", vcpu: v.vcpu.id }, () =>
        v.vcpu.setDeviceAttr(PMU_INIT.group, PMU_INIT.attr),
      );
      v.attrs.push(PMU_INIT);
    }
    return undefined;
  }
  const c = chip;
  kvmStep(stage, { op: "KVM_DEV_ARM_VGIC_CTRL_INIT (with the PMUs' IRQ and INIT)" }, () =>
    initIrqchip(
      c,
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
