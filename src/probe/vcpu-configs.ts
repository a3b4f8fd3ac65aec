/**
 * The vCPU configurations a probe covers, by name. Apart from session.ts (which sets them up) so that
 * the command line lists and checks them (`probe --configs`) without loading the KVM layer.
 */
import type { KVM_CAP, VcpuFeatureName } from "../kvm/uapi.js";

export interface VcpuConfig {
  name: string;
  features: readonly VcpuFeatureName[];
  /** Capabilities that must be nonzero for the configuration to be probed by default. */
  needs: readonly (keyof typeof KVM_CAP)[];
}

/** The configurations, in the order a profile lists them. */
export const VCPU_CONFIGS: readonly VcpuConfig[] = [
  { name: "psci-0.2", features: ["PSCI_0_2"], needs: [] },
  { name: "psci-0.2+pmu", features: ["PSCI_0_2", "PMU_V3"], needs: [] },
  { name: "psci-0.2+sve", features: ["PSCI_0_2", "SVE"], needs: ["ARM_SVE"] },
  {
    name: "psci-0.2+ptrauth",
    features: ["PSCI_0_2", "PTRAUTH_ADDRESS", "PTRAUTH_GENERIC"],
    needs: ["ARM_PTRAUTH_ADDRESS", "ARM_PTRAUTH_GENERIC"],
  },
  { name: "psci-0.1", features: [], needs: [] },
];

export function configByName(name: string): VcpuConfig | undefined {
  return VCPU_CONFIGS.find((c) => c.name === name);
}
