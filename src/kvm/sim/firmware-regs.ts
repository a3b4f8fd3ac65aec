/** Firmware registers: hypercalls.c kvm_arm_get_fw_reg / kvm_arm_set_fw_reg, psci.c kvm_psci_version. */
import type { RegId } from "../../regs/id.js";
import { FW_REGS, VCPU_FEATURES } from "../uapi.js";
import { fail } from "./common.js";
import { descByName } from "../kernels/descs.js";
import { psciVersionsAccepted, wa2Accepted, waAccepted } from "../rules/firmware.js";
import { getField } from "./descs.js";
import { spectreState } from "./spectre.js";
import type { SimVcpu } from "./vcpu.js";

/** kvm_psci_version: the VM's version for a PSCI_0_2 vCPU (KVM_ARM_PSCI_LATEST until set), else 0.1. */
export function psciVersion(vcpu: SimVcpu): bigint {
  if (!vcpu.features.includes(VCPU_FEATURES.PSCI_0_2)) return 1n;
  return vcpu.vm.psciVersion || vcpu.vm.model.psciLatest;
}

/** get_kernel_wa_level: from the host kernel's proton-pack.c states (spectre.ts). */
function waLevel(vcpu: SimVcpu, id: RegId): bigint {
  const s = spectreState(vcpu.vm.model.data, vcpu.vm.cpu);
  if (id === FW_REGS.SMCCC_ARCH_WORKAROUND_1)
    return s.v2 === "VULNERABLE" ? 0n : s.v2 === "MITIGATED" ? 1n : 2n;
  if (id === FW_REGS.SMCCC_ARCH_WORKAROUND_3)
    return s.bhb === "VULNERABLE" ? 0n : s.bhb === "MITIGATED" ? 1n : 2n;
  // WORKAROUND_2 (get_kernel_wa_level)
  if (s.v4 === "VULNERABLE") return 0n;
  if (s.v4 === "MITIGATED" && vcpu.ssbs()) return 0n;
  return 3n;
}

export function ssbs(vcpu: SimVcpu): boolean {
  const vm = vcpu.vm;
  if (vm.model.wa2SsbsFromVm) {
    const d = descByName(vm.model, "ID_AA64PFR1_EL1")!;
    return getField(vcpu.idValue(d), "ID_AA64PFR1_EL1", "SSBS") > 0;
  }
  return getField(vm.cpu.id.ID_AA64PFR1_EL1 ?? 0n, "ID_AA64PFR1_EL1", "SSBS") > 0;
}

export function getFw(vcpu: SimVcpu, id: RegId): bigint {
  if (id === FW_REGS.PSCI_VERSION) return vcpu.psciVersion();
  return waLevel(vcpu, id);
}

/** kvm_arm_set_fw_reg: PSCI_VERSION (VM-wide, never EBUSY), workaround levels checked, not stored. */
export function setFw(vcpu: SimVcpu, op: string, id: RegId, v: bigint): void {
  const vm = vcpu.vm;
  if (id === FW_REGS.PSCI_VERSION) {
    const wants02 = vcpu.features.includes(VCPU_FEATURES.PSCI_0_2);
    if (!psciVersionsAccepted(vm.model, wants02).includes(v)) fail(op, "EINVAL");
    vm.psciVersion = v;
    return;
  }
  const lo = Number(v & 0xffffffffn);
  const hi = Number(v >> 32n);
  const level = Number(waLevel(vcpu, id));
  const ok = id === FW_REGS.SMCCC_ARCH_WORKAROUND_2 ? wa2Accepted(lo, hi, level) : waAccepted(lo, hi, level);
  if (!ok) fail(op, "EINVAL");
}
