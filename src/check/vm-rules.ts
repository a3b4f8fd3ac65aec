/**
 * Rules about no single register: the vCPU's features and target (KVM_ARM_VCPU_INIT) and the VM-wide
 * state (IPA size, enabled capabilities, device attributes, stolen time). KVM's answers (capabilities,
 * IPA limit, preferred target) are measured, or unknown in a profile without them (kvm null): then a
 * requirement on them is tolerated, saying it was not measured (evidence.ts).
 */
import { CAPS } from "../kvm/index.js";
import { generationModel } from "../kvm/kernels/generations.js";
import { vcpuTargetAccepted } from "../kvm/rules/vcpu-init.js";
import type { VerdictLevel } from "./check.js";
import { capValue, featureBits, featureKey, featureName } from "./config-view.js";
import type { CompiledConfig, CompiledHost } from "./host.js";
import type { Requirements, VcpuRequirement } from "./requirements.js";
import type { Out } from "./verdicts.js";
import { worse } from "./verdicts.js";
import { fillError } from "./restore-policy.js";
import type { Grounds } from "./evidence.js";
import { MEASURED, NOT_MEASURED, raised } from "./evidence.js";

/**
 * No probed configuration of the destination initialises with the vCPU's features: measured when one
 * with exactly those features failed, else nobody tried them (unknown); incompatible either way, since
 * nothing is there to compare the registers with.
 */
export function noConfigLevel(r: VcpuRequirement, host: CompiledHost, out: Out): VerdictLevel {
  if (out) {
    const tried = host.profile.configs.some((c) => featureKey(featureBits(c.features)) === r.featureKey);
    out.general(
      "incompatible",
      "feature",
      `no probed vCPU configuration of the destination initialises with the features ${r.features.map(featureName).join(", ") || "none"} (KVM_ARM_VCPU_INIT)${tried ? "" : "; none was tried"}`,
      tried ? MEASURED : NOT_MEASURED,
    );
  }
  return "incompatible";
}

/** The vCPU's features on the destination's view (kvm_vcpu_init_check_features, config-view.ts). */
export function featuresLevel(r: VcpuRequirement, cfg: CompiledConfig, out: Out): VerdictLevel {
  let worst: VerdictLevel = "ok";
  const { refusedFeatures, label } = cfg.host.policy;
  for (const refused of refusedFeatures) {
    if (!r.features.includes(refused.feature)) continue;
    if (!out) return "incompatible";
    const name = featureName(refused.feature);
    const error = fillError(refused.error, { reg: name });
    out.vmm(
      "KVM_ARM_VCPU_INIT",
      "",
      "feature",
      `${label} never gives a vCPU ${name} (${refused.rule}): ${error}`,
      MEASURED,
      error,
    );
    worst = "incompatible";
  }
  for (const issue of cfg.view.issues) {
    worst = worse(worst, issue.level);
    out?.general(issue.level, "feature", issue.reason, issue.grounds, featureName(issue.feature));
  }
  if (out) {
    const bad = new Set([...cfg.view.issues.map((i) => i.feature), ...refusedFeatures.map((f) => f.feature)]);
    for (const f of r.features)
      if (!bad.has(f))
        out.general(
          "ok",
          "feature",
          `initialises on the destination (compared with its ${cfg.view.name} configuration)`,
          MEASURED,
          featureName(f),
        );
  }
  return worst;
}

/**
 * The saved KVM_ARM_VCPU_INIT target on the destination (kvm_vcpu_set_target): its preferred target is
 * measured; another target's acceptance is the generation's rule. The worst case of a refused target
 * is tolerated (the restore substitutes it), so an unmeasured preferred target is tolerated too.
 */
export function targetLevel(target: number, host: CompiledHost, out: Out): VerdictLevel {
  const pt = host.preferredTarget;
  if (pt === undefined) {
    if (host.profile.kvm) return "ok"; // KVM_ARM_PREFERRED_TARGET failed: the restore uses the saved one
    out?.general(
      "tolerated",
      "target",
      `the destination's KVM_ARM_PREFERRED_TARGET was not measured: whether it accepts the saved target ${target} is unknown (the target selects no guest-visible state)`,
      NOT_MEASURED,
      "target",
    );
    return "tolerated";
  }
  // kvm_vcpu_set_target; where KVM_ARM_PREFERRED_TARGET is kvm_target_cpu() ("exact"), the profile's says it.
  const model = generationModel(host.generation);
  const cpu = model.vcpuTarget === "exact" ? pt : host.targetCpu;
  const grounds = target === pt ? MEASURED : host.model;
  const accepted = target === pt || vcpuTargetAccepted(model, target, cpu);
  const level = raised(accepted ? "ok" : "tolerated", grounds);
  out?.general(
    level,
    "target",
    accepted
      ? `KVM_ARM_VCPU_INIT target ${target} is accepted`
      : `the saved target ${target} is refused (kvm_vcpu_set_target): the restore must use the destination's KVM_ARM_PREFERRED_TARGET ${pt}; the target selects no guest-visible state`,
    grounds,
    "target",
  );
  return level;
}

/**
 * A VM-wide requirement on KVM's answers: what the destination must support, and the verdict either
 * way; tolerated where the answers were not measured (`grounds` unknown), the reason saying so.
 */
function needs(
  on: boolean,
  grounds: Grounds,
  out: Out,
  field: string,
  yes: string,
  no: string,
  notMeasured: string,
): VerdictLevel {
  const unknown = grounds.evidence === "unknown";
  const level = unknown ? "tolerated" : on ? "ok" : "incompatible";
  out?.general(level, "vm", unknown ? notMeasured : on ? yes : no, grounds, field);
  return level;
}

const CAPS_NOT_MEASURED = "the destination's KVM_CHECK_EXTENSION answers were not measured";

/** The VM-wide state of a snapshot on the destination. */
export function vmLevel(req: Requirements, host: CompiledHost, out: Out): VerdictLevel {
  const vm = req.vm;
  if (!vm) return "ok";
  let worst: VerdictLevel = "ok";
  const p = host.profile;
  const measured = host.kvm;
  if (vm.ipaBits > 0) {
    const limit = p.kvm?.maxIpaBits ?? 0;
    // kvm_arm_setup_stage2: IPA size above KVM_CAP_ARM_VM_IPA_SIZE -> KVM_CREATE_VM EINVAL
    worst = worse(
      worst,
      needs(
        vm.ipaBits <= limit,
        measured,
        out,
        "ipaBits",
        `${vm.ipaBits}-bit IPA space available`,
        `the VM uses a ${vm.ipaBits}-bit IPA space; the destination allows ${limit} (kvm_arm_setup_stage2: EINVAL)`,
        `the VM uses a ${vm.ipaBits}-bit IPA space; the destination's limit was not measured (KVM_CAP_ARM_VM_IPA_SIZE)`,
      ),
    );
  }
  for (const c of vm.caps) {
    const info = [...CAPS.values()].find((x) => x.number === c.cap);
    const field = `KVM_ENABLE_CAP(${info?.name ?? c.cap})`;
    if (!info) {
      out?.general(
        "incompatible",
        "vm",
        "a capability guestabi does not know: KVM_ENABLE_CAP may fail (kvm_vm_ioctl_enable_cap: EINVAL)",
        NOT_MEASURED,
        field,
      );
      worst = "incompatible";
      continue;
    }
    worst = worse(
      worst,
      needs(
        capValue(p, info.name) > 0,
        measured,
        out,
        field,
        "the destination supports it",
        `${info.name} is 0 on the destination: KVM_ENABLE_CAP would fail (kvm_vm_ioctl_enable_cap: EINVAL)`,
        `${CAPS_NOT_MEASURED}: whether KVM_ENABLE_CAP(${info.name}) succeeds is unknown`,
      ),
    );
  }
  if (vm.attrs.length > 0)
    // kvm_arch_vm_ioctl KVM_SET_DEVICE_ATTR (the SMCCC filter, 6.4+) answers only with KVM_CAP_VM_ATTRIBUTES.
    worst = worse(
      worst,
      needs(
        capValue(p, "KVM_CAP_VM_ATTRIBUTES") > 0,
        measured,
        out,
        "KVM_SET_DEVICE_ATTR",
        "VM device attributes supported",
        "the VM sets device attributes (SMCCC filter); KVM_CAP_VM_ATTRIBUTES is 0 on the destination",
        `the VM sets device attributes (SMCCC filter); ${CAPS_NOT_MEASURED} (KVM_CAP_VM_ATTRIBUTES)`,
      ),
    );
  if (req.pvTime)
    // A vCPU's stolen-time IPA (KVM_ARM_VCPU_PVTIME_CTRL) needs KVM_CAP_STEAL_TIME (kvm_arm_pvtime_has_attr).
    worst = worse(
      worst,
      needs(
        capValue(p, "KVM_CAP_STEAL_TIME") > 0,
        measured,
        out,
        "KVM_ARM_VCPU_PVTIME_CTRL",
        "stolen time supported",
        "a vCPU sets its stolen-time IPA; KVM_CAP_STEAL_TIME is 0 on the destination (ENXIO)",
        `a vCPU sets its stolen-time IPA; ${CAPS_NOT_MEASURED} (KVM_CAP_STEAL_TIME)`,
      ),
    );
  return worst;
}
