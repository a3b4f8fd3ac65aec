/** KVM_ARM_VCPU_INIT / _FINALIZE: arm.c kvm_vcpu_set_target and init checks, guest.c kvm_target_cpu. */
import type { VcpuInit } from "../types.js";
import { kvmTargetCpu, vcpuFeatureKnown, vcpuTargetAccepted } from "../rules/vcpu-init.js";
import { CAPS, VCPU_FEATURES } from "../uapi.js";
import { fail } from "./common.js";
import { reset } from "./reset.js";
import type { SimVcpu } from "./vcpu.js";

/** kvm_vcpu_set_target + kvm_vcpu_init_check_features + kvm_reset_vcpu (arm.c, reset.c). */
export function initVcpu(vcpu: SimVcpu, init: VcpuInit): void {
  const op = "KVM_ARM_VCPU_INIT";
  vcpu.live(op);
  const m = vcpu.vm.model;
  const cpuTarget = kvmTargetCpu(vcpu.vm.cpu.midr);
  if (!vcpuTargetAccepted(m, init.target, cpuTarget)) fail(op, "EINVAL");
  if (m.vcpuTarget === "exact" && vcpu.target !== undefined && vcpu.target !== init.target)
    fail(op, "EINVAL");
  const requested = [...new Set(init.features)].sort((a, b) => a - b);
  // 6.7+ kvm_arch_vcpu_ioctl_vcpu_init: POWER_OFF is ephemeral, cleared from the request before
  // kvm_vcpu_set_target compares or records the feature set; before, it is one of the vCPU's features
  const feats = m.powerOffEphemeral ? requested.filter((f) => f !== VCPU_FEATURES.POWER_OFF) : requested;
  for (const f of feats)
    if (f >= 7 * 32 || !vcpuFeatureKnown(m, f)) fail(op, f < 7 * 32 ? "ENOENT" : "EINVAL");
  const has = (f: number) => feats.includes(f);
  const sys = vcpu.vm.system;
  if (has(VCPU_FEATURES.EL1_32BIT) && !sys.checkExtension(CAPS.get("KVM_CAP_ARM_EL1_32BIT")!.number))
    fail(op, "EINVAL");
  if (has(VCPU_FEATURES.SVE) && vcpu.vm.cpu.sveMaxVq === 0) fail(op, "EINVAL");
  if (has(VCPU_FEATURES.PMU_V3) && vcpu.vm.cpu.pmuCounters === 0) fail(op, "ENODEV");
  const pa = has(VCPU_FEATURES.PTRAUTH_ADDRESS);
  const pg = has(VCPU_FEATURES.PTRAUTH_GENERIC);
  if (pa !== pg) fail(op, "EINVAL"); // vcpu_has_ptrauth needs both (kvm_vcpu_enable_ptrauth)
  if (pa && !sys.checkExtension(CAPS.get("KVM_CAP_ARM_PTRAUTH_ADDRESS")!.number)) fail(op, "EINVAL");
  if (has(VCPU_FEATURES.EL1_32BIT) && (pa || has(VCPU_FEATURES.SVE))) fail(op, "EINVAL");
  if (has(VCPU_FEATURES.HAS_EL2) || has(VCPU_FEATURES.HAS_EL2_E2H0)) fail(op, "EINVAL"); // no NV host (ASSUMED)
  if (vcpu.initialized && feats.join() !== vcpu.features.join()) fail(op, "EINVAL");
  // 6.7+: features are VM-wide (kvm_vcpu_init_changed / KVM_ARCH_FLAG_VCPU_FEATURES_CONFIGURED)
  if (m.idRegs === "writable" && vcpu.vm.features && feats.join() !== vcpu.vm.features.join())
    fail(op, "EINVAL");
  vcpu.vm.features ??= feats;
  vcpu.features = feats;
  vcpu.target = init.target;
  vcpu.fset = {
    sve: has(VCPU_FEATURES.SVE),
    ptrauth: pa,
    pmu: has(VCPU_FEATURES.PMU_V3),
    mte: vcpu.vm.mte,
  };
  // kvm_vcpu_enable_sve / get_sve_vls: the vector lengths up to kvm_sve_max_vl the host implements (sve_vq_map)
  vcpu.sveVqs = vcpu.fset.sve ? vcpu.vm.cpu.sveVqMap & ((1n << BigInt(vcpu.vm.cpu.sveMaxVq)) - 1n) : 0n;
  vcpu.finalized = !vcpu.fset.sve;
  vcpu.poweredOff = requested.includes(VCPU_FEATURES.POWER_OFF);
  reset(vcpu);
  vcpu.initialized = true;
}

export function finalizeVcpu(vcpu: SimVcpu, feature: number): void {
  const op = "KVM_ARM_VCPU_FINALIZE";
  vcpu.live(op);
  if (feature !== VCPU_FEATURES.SVE) fail(op, "EINVAL");
  if (!vcpu.fset.sve || vcpu.finalized) fail(op, "EPERM");
  vcpu.finalized = true;
  vcpu.listEpoch = -1;
}
