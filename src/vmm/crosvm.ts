/**
 * crosvm's restore rules (aarch64, KVM) as a RestorePolicy. Facts from crosvm's source
 * (chromium.googlesource.com/crosvm/crosvm, mirrored at github.com/google/crosvm) at f1e797a68
 * (2026-08-21); aarch64 vCPU snapshots exist since f8011f9c1 (2024-07-09) with the same rules.
 *
 * What a vCPU snapshot holds (hypervisor/src/aarch64.rs VcpuAArch64::snapshot, VcpuSnapshot): x0-x30,
 * sp, pc, pstate and v0-v31 by name; `sys`, every KVM_REG_ARM64_SYSREG (0x13) id KVM_GET_REG_LIST lists
 * plus the core registers it names as system registers (sp_el1, elr_el1, the five spsr, fpsr, fpcr:
 * hypervisor/src/kvm/aarch64.rs get_system_regs and the KvmVcpuRegister -> id mapping); the CCSIDR
 * values (0x11 demux, get_cache_info); and the KVM_REG_ARM_FW (0x14) registers
 * (hypervisor_specific_snapshot). Not the 0x16 KVM_REG_ARM_FW_FEAT_BMAP bitmaps and no SVE state.
 * KVM_ARM_VCPU_INIT's features are not in the snapshot: the restored VM is built from crosvm's own
 * configuration (aarch64/src/lib.rs vcpu_features, get_features_bitmap).
 *
 * No reader of crosvm snapshots here: a snapshot is a directory of fragments, not a file (snapshot/src/
 * lib.rs SnapshotWriter: one file per fragment, vCPU i in vcpu/vcpu<i>, optionally encrypted with an
 * enc_metadata key); the fragments are CBOR since 72d733e7e (2025-03-11) and JSON before, with a
 * ciborium::Value inside for the hypervisor data and the architectural CNTVCT/CNTV_CVAL swap in its
 * keys; and the vCPU features are not recorded, so a snapshot alone does not say which vCPUs to build.
 */
import { COPROC } from "../regs/index.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import type { RestorePolicy } from "../check/restore-policy.js";

/** VcpuAArch64::restore's context for a failing system register (it prints the AArch64SysRegId). */
const RESTORE_ERROR = "Failed to restore Vcpu: Failed to restore system register {reg} ({id}): {errno}";

const neverRequested = (feature: number) => ({
  feature,
  error: "crosvm's vCPUs never have {reg}: no crosvm option requests it",
  rule: "get_features_bitmap (hypervisor/src/kvm/aarch64.rs): PsciV0_2, PmuV3, PowerOff, Sve, NestedVirt, and pointer authentication where the host has both capabilities",
});

/**
 * crosvm's restore: the saved registers written back in order (core, V, system registers, CCSIDR,
 * firmware), the first KVM_SET_ONE_REG error fatal; the firmware bitmaps and SVE state never saved.
 */
export const CROSVM_POLICY: RestorePolicy = {
  id: "crosvm",
  label: "crosvm",
  source:
    "crosvm f1e797a68 (aarch64 vCPU snapshots since f8011f9c1): hypervisor/src/aarch64.rs (VcpuAArch64::snapshot, restore), hypervisor/src/kvm/aarch64.rs (get_system_regs, get_cache_info, hypervisor_specific_snapshot, get_features_bitmap)",
  unsaved: [
    {
      coproc: COPROC.fwBitmap,
      why: "VcpuSnapshot keeps the KVM_REG_ARM_FW registers (hypervisor_specific_snapshot) but not the KVM_REG_ARM_FW_FEAT_BMAP ones: the restored guest sees the destination's hypercall services",
    },
    {
      coproc: COPROC.sve,
      why: "VcpuSnapshot has no SVE registers; it reads v0-v31 as core registers, which KVM refuses on an SVE vCPU, so such a VM cannot be snapshotted ('Failed to get V0')",
    },
  ],
  missing: {
    action: "abort",
    error: RESTORE_ERROR,
    rule: "VcpuAArch64::restore (hypervisor/src/aarch64.rs): set_one_reg for every saved register, no list of registers to skip",
  },
  refused: {
    error: RESTORE_ERROR,
    rule: "VcpuAArch64::restore (hypervisor/src/aarch64.rs): the first set_one_reg error ends the vCPU's restore",
  },
  // No use of KVM_CAP_ARM_WRITABLE_IMP_ID_REGS in the tree.
  writableImpIdRegs: false,
  refusedFeatures: [VCPU_FEATURES.EL1_32BIT, VCPU_FEATURES.HAS_EL2_E2H0].map(neverRequested),
};
