/**
 * Firecracker's snapshot restore rules on aarch64, as a RestorePolicy (check/restore-policy.ts). Read from
 * firecracker-microvm/firecracker v1.16.1 (unchanged at main 81b38b9):
 *
 * - save (src/vmm/src/arch/aarch64/vcpu.rs KvmVcpu::save_state -> get_all_registers): every id
 *   KVM_GET_REG_LIST answers (get_all_registers_ids), read with KVM_GET_ONE_REG in list order; core
 *   registers and SVE included, so no register group goes unsaved. The vCPU's kvm_vcpu_init is saved too,
 *   without POWER_OFF;
 * - restore (builder.rs build_microvm_from_snapshot -> KvmVcpu::restore_state): KVM_ARM_VCPU_INIT with the
 *   saved features (init_vcpu, which refuses PMU_V3 first, v1.16.0+), KVM_REG_ARM64_SVE_VLS before
 *   KVM_ARM_VCPU_FINALIZE, then every other saved register with KVM_SET_ONE_REG in saved order; the
 *   first error ends the restore (set_register -> VcpuArchError::SetOneReg -> KvmVcpuError::RestoreState).
 *   Nothing is skipped: a register the destination does not list fails with ENOENT, and no saved-list
 *   length is compared (no count rule). snapshot-editor `edit-vmstate remove-regs` is the tool to drop
 *   registers beforehand (firecracker-remove-regs.ts);
 * - KVM_ENABLE_CAP is called nowhere under src/vmm/src, so KVM_CAP_ARM_WRITABLE_IMP_ID_REGS never is:
 *   MIDR_EL1, REVIDR_EL1 and AIDR_EL1 take only the destination's values;
 * - the restore also requires the capabilities the snapshot's CPU template asked for (Kvm::new with the
 *   saved kvm_cap_modifiers), which this table does not express.
 *
 * Errors are what the API's PUT /snapshot/load answers (firecracker-errors.ts FC_RESTORE_VCPU); where
 * Firecracker prints the saved value ("to value 0x..." with every byte) the table says <saved value>.
 */
import { VCPU_FEATURES } from "../kvm/index.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { FC_RESTORE_VCPU, FC_UNSUPPORTED_PMU, firecrackerErrno } from "./firecracker-errors.js";

const SET_REG = `${FC_RESTORE_VCPU}Failed to restore the state of the vcpu: Failed to set register {id} to value <saved value>: `;
const RESTORE_RULE =
  "KvmVcpu::restore_state (src/vmm/src/arch/aarch64/vcpu.rs): every saved register through KVM_SET_ONE_REG in saved order, the first error ends the restore";

export const FIRECRACKER_POLICY: RestorePolicy = {
  id: "firecracker",
  label: "Firecracker",
  source:
    "firecracker-microvm/firecracker v1.16.1: src/vmm/src/arch/aarch64/vcpu.rs (save_state, get_all_registers, restore_state, init_vcpu), src/vmm/src/builder.rs (build_microvm_from_snapshot)",
  unsaved: [],
  missing: {
    action: "abort",
    error: SET_REG + firecrackerErrno("ENOENT"),
    rule: RESTORE_RULE,
  },
  refused: {
    // Firecracker prints the errno as musl's strerror and "(os error N)"; {errno} stands for it.
    error: SET_REG + "{errno}",
    rule: RESTORE_RULE,
  },
  writableImpIdRegs: false,
  // get_all_registers saves in KVM_GET_REG_LIST order; restore_state writes them back in that order.
  writeOrder: "saved",
  refusedFeatures: [
    {
      feature: VCPU_FEATURES.PMU_V3,
      error: FC_RESTORE_VCPU + FC_UNSUPPORTED_PMU,
      rule: "KvmVcpu::restore_state -> init_vcpu (src/vmm/src/arch/aarch64/vcpu.rs, v1.16.0+)",
    },
  ],
};

/**
 * The vCPU features Firecracker itself gives every vCPU: PSCI_0_2 (default_kvi; its device tree announces
 * arm,psci-0.2: arch/aarch64/fdt.rs create_psci_node), and POWER_OFF on every vCPU but the first at boot
 * (KvmVcpu::new), never saved (save_state clears it).
 */
export const FIRECRACKER_VCPU_FEATURES = {
  always: [VCPU_FEATURES.PSCI_0_2],
  secondaryAtBoot: [VCPU_FEATURES.POWER_OFF],
} as const;
