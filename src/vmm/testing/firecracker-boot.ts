/**
 * TEST HELPER: the steps of Firecracker's boot that involve a custom CPU template, run against a KVM
 * backend (the simulator in tests), in Firecracker's order (firecracker-template-rules.ts cites each):
 * capabilities on /dev/kvm, KVM_ARM_VCPU_INIT of every vCPU from the preferred target with PSCI_0_2
 * (POWER_OFF on the others) and the template's words, KVM_GET_ONE_REG of every template register on
 * vCPU 0, the bitmaps applied, KVM_SET_ONE_REG of each on every vCPU. The first failure is the answer,
 * with Firecracker's error.
 */
import type { RegId } from "../../regs/index.js";
import { KvmError, VCPU_FEATURES, regSizeBytes } from "../../kvm/index.js";
import type { KvmSystem } from "../../kvm/index.js";
import {
  FC_BOOT_PMU,
  fcBootGetReg,
  fcBootInit,
  fcBootSetReg,
  fcMissingCapability,
  fcValueStr,
} from "../firecracker-errors.js";
import {
  firecrackerCapabilities,
  firecrackerFeatureBits,
  firecrackerFeatureWords,
  parseFirecrackerTemplate,
} from "../firecracker-template-rules.js";
import { FIRECRACKER_VCPU_FEATURES } from "../firecracker-policy.js";

export type SimBootResult =
  | { ok: true; /** vCPU 0's value of each template register after the writes. */ values: Map<RegId, bigint> }
  | { ok: false; error: string };

/** Boots `text` (a template's JSON) as Firecracker would, on `system` with `vcpus` vCPUs. */
export function firecrackerBootOn(system: KvmSystem, text: string, vcpus = 2): SimBootResult {
  const { template, violations } = parseFirecrackerTemplate(text);
  if (!template) return { ok: false, error: violations[0]!.error };
  for (const cap of firecrackerCapabilities(template.kvmCapabilities))
    if (system.checkExtension(cap) === 0) return { ok: false, error: fcMissingCapability(cap) };
  const vm = system.createVm();
  try {
    const cpus = Array.from({ length: vcpus }, (_, i) => vm.createVcpu(i));
    const { features } = firecrackerFeatureWords(template.vcpuFeatures);
    const bits = firecrackerFeatureBits(features);
    if (bits.includes(VCPU_FEATURES.PMU_V3)) return { ok: false, error: FC_BOOT_PMU };
    const target = vm.preferredTarget().target;
    for (const c of cpus) {
      try {
        const own = c.id > 0 ? FIRECRACKER_VCPU_FEATURES.secondaryAtBoot : [];
        c.init({ target, features: [...own, ...bits] });
        if (bits.includes(VCPU_FEATURES.SVE)) c.finalize(VCPU_FEATURES.SVE);
      } catch (e) {
        if (e instanceof KvmError) return { ok: false, error: fcBootInit(e.errno) };
        throw e;
      }
    }
    const values = new Map<RegId, bigint>();
    for (const m of template.regModifiers) {
      let v: bigint;
      try {
        v = cpus[0]!.getOneReg(m.addr) as bigint;
      } catch (e) {
        if (e instanceof KvmError) return { ok: false, error: fcBootGetReg(m.addr, e.errno) };
        throw e;
      }
      const bytes = regSizeBytes(m.addr);
      values.set(m.addr, ((v & ~m.filter) | m.value) & ((1n << BigInt(bytes * 8)) - 1n));
    }
    for (const c of cpus)
      for (const [id, v] of values) {
        try {
          c.setOneReg(id, v);
        } catch (e) {
          if (e instanceof KvmError)
            return { ok: false, error: fcBootSetReg(id, fcValueStr(v, regSizeBytes(id)), e.errno) };
          throw e;
        }
      }
    for (const id of values.keys()) values.set(id, cpus[0]!.getOneReg(id) as bigint);
    return { ok: true, values };
  } finally {
    vm.destroy();
  }
}
