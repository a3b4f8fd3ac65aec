/**
 * The guest ABI fingerprint: run the probe program on a VM config and hash a canonical text of what the
 * guest saw (sha256). Time-varying results (KVM_PTP) count only by their outcome.
 *
 * The guest view is taken over the VMM's conduit. A guest learns whether it calls firmware with HVC
 * or SMC only from the tables its VMM writes (the DT /psci node's "method"; Firecracker writes "hvc",
 * src/vmm/src/arch/aarch64/fdt.rs create_psci_node; QEMU virt too unless the guest has EL2,
 * hw/arm/virt.c machvirt_init), so a call through the other conduit is something such a guest never
 * makes: those items (e.g. "PSCI_VERSION via smc", which KVM answers with -1 up to 6.1, handle_smc,
 * and as an SMCCC call from 6.4) are recorded apart, outside the hash.
 */
import { createHash } from "node:crypto";
import { buildProbeProgram, defaultProbeItems } from "../guest/program.js";
import type { Conduit } from "../guest/program.js";
import type { ProbeItemResult } from "../guest/decode.js";
import { runProbeProgram } from "../guest/run.js";
import type { KvmSystem, KvmVcpu, KvmVm } from "../types.js";
import { initPmu, normalizeVcpuInit } from "../helpers.js";
import { DEFAULT_IRQCHIP, createIrqchipIfOffered, initIrqchip } from "../machine.js";
import type { Irqchip } from "../machine.js";
import { VCPU_FEATURES } from "../uapi.js";
import { gicProbeItems } from "../guest/gic.js";

export type { Conduit } from "../guest/program.js";

/** The conduit a VMM advertises unless told otherwise: HVC (Firecracker's fdt.rs, QEMU virt without EL2). */
export const DEFAULT_CONDUIT: Conduit = "hvc";

export interface GuestAbiFingerprint {
  /** The conduit the guest view was taken over (the VMM's). */
  conduit: Conduit;
  /** sha256 of `lines`. */
  sha256: string;
  /** The guest view: every item but the calls through the other conduit, then how the run ended. */
  lines: string[];
  /** The calls through the other conduit, which this guest never makes: shown apart, not hashed. */
  otherConduit: { conduit: Conduit; lines: string[] };
  completed: boolean;
}

const h = (x: bigint) => "0x" + x.toString(16);

/**
 * What a VMM does around the probe: before any vCPU exists (caps), after KVM_ARM_VCPU_INIT (restores),
 * and once its interrupt controller is initialised (the vGIC's own state).
 */
export interface FingerprintHooks {
  beforeVcpus?: (vm: KvmVm) => void;
  afterInit?: (vm: KvmVm, vcpu: KvmVcpu) => void;
  afterIrqchip?: (vm: KvmVm, chip: Irqchip) => void;
}

function itemLine(it: ProbeItemResult): string {
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
}

/**
 * Runs the default probe, and the GIC's identification registers, on a fresh VM of `sys` with one vCPU
 * of `features` and its vGICv3, and fingerprints what a guest whose firmware tables name `conduit` sees.
 */
export function guestAbiFingerprint(
  sys: KvmSystem,
  features: readonly number[] = [2],
  hooks: FingerprintHooks = {},
  conduit: Conduit = DEFAULT_CONDUIT,
): GuestAbiFingerprint {
  const vm = sys.createVm();
  try {
    hooks.beforeVcpus?.(vm);
    const vcpu = vm.createVcpu(0);
    vcpu.init(normalizeVcpuInit({ target: vm.preferredTarget().target, features }));
    if (features.includes(VCPU_FEATURES.SVE)) vcpu.finalize(VCPU_FEATURES.SVE);
    hooks.afterInit?.(vm, vcpu);
    const pmu = features.includes(VCPU_FEATURES.PMU_V3);
    // The VM as VMMs build it (machine.ts); a host without a vGICv3 runs it without an irqchip.
    const chip = createIrqchipIfOffered(vm, DEFAULT_IRQCHIP);
    if (chip) {
      initIrqchip(chip, pmu ? [vcpu] : []);
      hooks.afterIrqchip?.(vm, chip);
    } else if (pmu) initPmu(vcpu);
    const program = buildProbeProgram(
      defaultProbeItems(
        chip
          ? gicProbeItems({
              dist: chip.layout.dist,
              redist: chip.layout.redist,
              ...(chip.its ? { its: chip.layout.its } : {}),
            })
          : [],
      ),
    );
    const run = runProbeProgram(vm, vcpu, program);
    const lines: string[] = [];
    const other: string[] = [];
    for (const it of run.result.items)
      (it.kind === "call" && it.conduit !== conduit ? other : lines).push(itemLine(it));
    lines.push(`end: ${run.result.end.kind}`);
    const sha256 = createHash("sha256")
      .update(lines.join("\n") + "\n")
      .digest("hex");
    return {
      conduit,
      sha256,
      lines,
      otherConduit: { conduit: conduit === "hvc" ? "smc" : "hvc", lines: other },
      completed: run.result.completed,
    };
  } finally {
    vm.destroy();
  }
}
