/**
 * The guest ABI fingerprint: run the probe program on a VM config and hash a canonical text of what the
 * guest saw (sha256). Time-varying results (KVM_PTP) count only by their outcome.
 */
import { createHash } from "node:crypto";
import { buildProbeProgram, defaultProbeItems } from "../guest/program.js";
import { runProbeProgram } from "../guest/run.js";
import type { KvmSystem, KvmVcpu, KvmVm } from "../types.js";
import { normalizeVcpuInit } from "../helpers.js";

export interface GuestAbiFingerprint {
  sha256: string;
  lines: string[];
  completed: boolean;
}

const h = (x: bigint) => "0x" + x.toString(16);

/** What a VMM does around the probe: before any vCPU exists (caps), and after KVM_ARM_VCPU_INIT (restores). */
export interface FingerprintHooks {
  beforeVcpus?: (vm: KvmVm) => void;
  afterInit?: (vm: KvmVm, vcpu: KvmVcpu) => void;
}

/** Runs the default probe on a fresh VM of `sys` with one vCPU of `features` and fingerprints it. */
export function guestAbiFingerprint(
  sys: KvmSystem,
  features: readonly number[] = [2],
  hooks: FingerprintHooks = {},
): GuestAbiFingerprint {
  const vm = sys.createVm();
  try {
    hooks.beforeVcpus?.(vm);
    const vcpu = vm.createVcpu(0);
    vcpu.init(normalizeVcpuInit({ target: vm.preferredTarget().target, features }));
    if (features.includes(4)) vcpu.finalize(4);
    if (features.includes(3)) vcpu.setDeviceAttr(0, 1n);
    hooks.afterInit?.(vm, vcpu);
    const program = buildProbeProgram(defaultProbeItems());
    const run = runProbeProgram(vm, vcpu, program);
    const lines = run.result.items.map((it) => {
      switch (it.outcome) {
        case "returned":
          return `${it.name}: ${it.timeVarying ? "returned" : it.x.map(h).join(" ")}`;
        case "value":
          return `${it.name}: ${h(it.value)}`;
        case "exception":
          return `${it.name}: exception ec=${h(BigInt(it.exception.ec))}`;
        default:
          return `${it.name}: ${it.outcome}`;
      }
    });
    lines.push(`end: ${run.result.end.kind}`);
    const sha256 = createHash("sha256")
      .update(lines.join("\n") + "\n")
      .digest("hex");
    return { sha256, lines, completed: run.result.completed };
  } finally {
    vm.destroy();
  }
}
