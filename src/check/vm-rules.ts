/**
 * Rules about no single register: the vCPU's features and target (KVM_ARM_VCPU_INIT) and the VM-wide
 * state (IPA size, enabled capabilities, device attributes, stolen time).
 */
import { CAPS } from "../kvm/index.js";
import { generationModel } from "../kvm/kernels/generations.js";
import { vcpuTargetAccepted } from "../kvm/rules/vcpu-init.js";
import type { VerdictLevel } from "./check.js";
import { capValue, featureName } from "./config-view.js";
import type { CompiledConfig, CompiledHost } from "./host.js";
import type { Requirements, VcpuRequirement } from "./requirements.js";
import type { Out } from "./verdicts.js";
import { worse } from "./verdicts.js";

/** No probed configuration of the destination initialises with the vCPU's features. */
export function noConfigLevel(r: VcpuRequirement, out: Out): VerdictLevel {
  out?.general(
    "incompatible",
    "feature",
    `no probed vCPU configuration of the destination initialises with the features ${r.features.map(featureName).join(", ") || "none"} (KVM_ARM_VCPU_INIT)`,
  );
  return "incompatible";
}

/** The vCPU's features on the destination's view (kvm_vcpu_init_check_features, config-view.ts). */
export function featuresLevel(r: VcpuRequirement, cfg: CompiledConfig, out: Out): VerdictLevel {
  let worst: VerdictLevel = "ok";
  for (const issue of cfg.view.issues) {
    worst = worse(worst, issue.level);
    out?.general(issue.level, "feature", issue.reason, featureName(issue.feature));
  }
  if (out) {
    const bad = new Set(cfg.view.issues.map((i) => i.feature));
    for (const f of r.features)
      if (!bad.has(f))
        out.general(
          "ok",
          "feature",
          `initialises on the destination (compared with its ${cfg.view.name} configuration)`,
          featureName(f),
        );
  }
  return worst;
}

/** The saved KVM_ARM_VCPU_INIT target on the destination (kvm_vcpu_set_target). */
export function targetLevel(target: number, host: CompiledHost, out: Out): VerdictLevel {
  const pt = host.preferredTarget;
  if (pt === undefined) return "ok";
  // kvm_vcpu_set_target; where KVM_ARM_PREFERRED_TARGET is kvm_target_cpu() ("exact"), the profile's says it.
  const model = generationModel(host.generation);
  const cpu = model.vcpuTarget === "exact" ? pt : host.targetCpu;
  const accepted = target === pt || vcpuTargetAccepted(model, target, cpu);
  const level = accepted ? "ok" : "tolerated";
  out?.general(
    level,
    "target",
    accepted
      ? `KVM_ARM_VCPU_INIT target ${target} is accepted`
      : `the saved target ${target} is refused (kvm_vcpu_set_target): the restore must use the destination's KVM_ARM_PREFERRED_TARGET ${pt}; the target selects no guest-visible state`,
    "target",
  );
  return level;
}

/** A VM-wide requirement: what the destination must support, and the verdict either way. */
function needs(on: boolean, out: Out, field: string, yes: string, no: string): VerdictLevel {
  const level = on ? "ok" : "incompatible";
  out?.general(level, "vm", on ? yes : no, field);
  return level;
}

/** The VM-wide state of a snapshot on the destination. */
export function vmLevel(req: Requirements, host: CompiledHost, out: Out): VerdictLevel {
  const vm = req.vm;
  if (!vm) return "ok";
  let worst: VerdictLevel = "ok";
  const p = host.profile;
  const ipaLimit = p.kvm?.maxIpaBits;
  if (vm.ipaBits > 0 && ipaLimit === undefined) {
    worst = worse(worst, "tolerated");
    out?.general(
      "tolerated",
      "vm",
      `the VM uses a ${vm.ipaBits}-bit IPA space; the destination's limit was not measured (KVM_CAP_ARM_VM_IPA_SIZE)`,
      "ipaBits",
    );
  } else if (vm.ipaBits > 0 && ipaLimit !== undefined)
    // kvm_arm_setup_stage2: IPA size above KVM_CAP_ARM_VM_IPA_SIZE -> KVM_CREATE_VM EINVAL
    worst = worse(
      worst,
      needs(
        vm.ipaBits <= ipaLimit,
        out,
        "ipaBits",
        `${vm.ipaBits}-bit IPA space available`,
        `the VM uses a ${vm.ipaBits}-bit IPA space; the destination allows ${ipaLimit} (kvm_arm_setup_stage2: EINVAL)`,
      ),
    );
  for (const c of vm.caps) {
    const info = [...CAPS.values()].find((x) => x.number === c.cap);
    worst = worse(
      worst,
      needs(
        info ? capValue(p, info.name) > 0 : false,
        out,
        `KVM_ENABLE_CAP(${info?.name ?? c.cap})`,
        "the destination supports it",
        `${info ? `${info.name} is 0 on the destination` : "a capability guestabi does not know"}: KVM_ENABLE_CAP would fail (kvm_vm_ioctl_enable_cap: EINVAL)`,
      ),
    );
  }
  if (vm.attrs.length > 0)
    // kvm_arch_vm_ioctl KVM_SET_DEVICE_ATTR (the SMCCC filter, 6.4+) answers only with KVM_CAP_VM_ATTRIBUTES.
    worst = worse(
      worst,
      needs(
        capValue(p, "KVM_CAP_VM_ATTRIBUTES") > 0,
        out,
        "KVM_SET_DEVICE_ATTR",
        "VM device attributes supported",
        "the VM sets device attributes (SMCCC filter); KVM_CAP_VM_ATTRIBUTES is 0 on the destination",
      ),
    );
  if (req.pvTime)
    // A vCPU's stolen-time IPA (KVM_ARM_VCPU_PVTIME_CTRL) needs KVM_CAP_STEAL_TIME (kvm_arm_pvtime_has_attr).
    worst = worse(
      worst,
      needs(
        capValue(p, "KVM_CAP_STEAL_TIME") > 0,
        out,
        "KVM_ARM_VCPU_PVTIME_CTRL",
        "stolen time supported",
        "a vCPU sets its stolen-time IPA; KVM_CAP_STEAL_TIME is 0 on the destination (ENXIO)",
      ),
    );
  return worst;
}
