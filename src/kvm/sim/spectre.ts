/**
 * The host kernel's Spectre-v2/v4/BHB and Meltdown states, per kernel generation, derived the way
 * arch/arm64/kernel/proton-pack.c and cpufeature.c derive them: from the CPU's MIDR (the MIDR lists of
 * generated/spectre.json, extracted from each generation's tree by scripts/gen-sim-spectre.mjs), its ID
 * registers (CSV2, CSV3, SSBS, ECBHB, CLRBHB) and what the host firmware answers (HostFirmware).
 *
 * KVM turns these into the guest's WORKAROUND_1/2/3 firmware registers and SMCCC_ARCH_FEATURES answers
 * (hypercalls.c get_kernel_wa_level / kvm_smccc_call_handler) and into ID_AA64PFR0_EL1.CSV2/CSV3
 * (5.10/6.1 arm.c kvm->arch.pfr0_csv2/csv3, 6.12+ sys_regs.c sanitise_id_aa64pfr0_el1).
 *
 * Kernel configuration and command line as on the lab's Debian kernels: CONFIG_MITIGATE_SPECTRE_BRANCH_HISTORY=y
 * and CONFIG_UNMAP_KERNEL_AT_EL0=y (their "disabled by compile time option" / "disabled by kernel
 * configuration" messages are absent from the lab's vmlinuz images), no mitigations=off, nospectre_v2,
 * ssbd= or nospectre_bhb. The system has one kind of CPU (a late CPU changes no state).
 */
import type { KernelGeneration } from "../../regs/catalog-types.js";
import type { CpuModel, HostFirmware } from "./cpus.js";
import { getField } from "./descs.js";
import spectreJson from "./generated/spectre.json" with { type: "json" };

export type SpectreState = "VULNERABLE" | "MITIGATED" | "UNAFFECTED";

export interface SpectreStates {
  v2: SpectreState;
  v4: SpectreState;
  bhb: SpectreState;
  meltdown: SpectreState;
  /** spectre_bhb_loop_affected(): the branchy-loop count of the CPU's list (0: in none). */
  bhbLoopK: number;
  /** arm_smccc_1_1_get_conduit() after psci_init_smccc(): "none" when the firmware is below SMCCC 1.1. */
  smcccConduit: "smc" | "hvc" | "none";
  /** For each state, the kernel rule that decided it. */
  why: { v2: string; v4: string; bhb: string; meltdown: string };
}

interface MidrRange {
  cpu: string;
  model: string;
  rvMin: string;
  rvMax: string;
}
interface GenerationData {
  logic: { bhbAffected: "onlyIfListed" | "unlessSafeListed"; meltdownState: boolean };
  midr: { modelMask: string; rvMask: string };
  bhbLoop: { k: number; list: string }[];
  lists: Record<string, { file: string; entries: MidrRange[] }>;
}
const DATA = spectreJson as unknown as {
  generatedFrom: Record<string, string>;
  generations: Record<string, GenerationData>;
};

/** The kernel sources the MIDR lists were extracted from, by generation. */
export const SPECTRE_SOURCES = DATA.generatedFrom;

// include/linux/arm-smccc.h
const SMCCC_RET_SUCCESS = 0;
const SMCCC_RET_NOT_SUPPORTED = -1;
const SMCCC_RET_NOT_REQUIRED = -2;
const SMCCC_ARCH_WORKAROUND_RET_UNAFFECTED = 1;
const ARM_SMCCC_VERSION_1_1 = 0x10001;
// include/uapi/linux/psci.h
const PSCI_RET_NOT_SUPPORTED = -1;

function data(gen: KernelGeneration): GenerationData {
  const d = DATA.generations[gen];
  if (!d) throw new RangeError(`no Spectre data for kernel generation ${gen}`);
  return d;
}

/** is_midr_in_range_list() / midr_is_cpu_model_range() against one of the generation's lists. */
export function midrInList(gen: KernelGeneration, list: string, midr: bigint): boolean {
  const d = data(gen);
  const l = d.lists[list];
  if (!l) return false;
  const model = midr & BigInt(d.midr.modelMask);
  const rv = midr & BigInt(d.midr.rvMask);
  return l.entries.some((e) => BigInt(e.model) === model && rv >= BigInt(e.rvMin) && rv <= BigInt(e.rvMax));
}

function listed(gen: KernelGeneration, list: string, midr: bigint): string | undefined {
  const d = data(gen);
  const model = midr & BigInt(d.midr.modelMask);
  return d.lists[list]?.entries.find((e) => BigInt(e.model) === model && midrInList(gen, list, midr))?.cpu;
}

/**
 * drivers/firmware/psci/psci.c psci_init_smccc() (called from psci_0_2_init on PSCI >= 1.0) and
 * drivers/firmware/smccc/smccc.c arm_smccc_1_1_get_conduit(): the SMCCC 1.1 conduit, or "none".
 */
export function smcccConduit(fw: HostFirmware): "smc" | "hvc" | "none" {
  if (fw.psciVersion >>> 16 < 1) return "none"; // PSCI 0.2: psci_init_smccc() is not called, SMCCC 1.0
  if (fw.psciFeaturesSmcccVersion === PSCI_RET_NOT_SUPPORTED) return "none";
  if (fw.smcccVersion >>> 0 < ARM_SMCCC_VERSION_1_1) return "none"; // `u32 ret; if (ret >= ARM_SMCCC_VERSION_1_1)`
  return fw.conduit;
}

/** arm_smccc_1_1_invoke(ARM_SMCCC_ARCH_FEATURES_FUNC_ID, wa): without a conduit, __fail_smccc_1_1 gives NOT_SUPPORTED. */
function archFeatures(fw: HostFirmware, conduit: string, wa: "wa1" | "wa2" | "wa3"): number {
  return conduit === "none" ? SMCCC_RET_NOT_SUPPORTED : fw.archFeatures[wa];
}

/** spectre_v2_get_cpu_fw_mitigation_state / spectre_bhb_get_cpu_fw_mitigation_state. */
function fwState(ret: number): SpectreState {
  if (ret === SMCCC_RET_SUCCESS) return "MITIGATED";
  if (ret === SMCCC_ARCH_WORKAROUND_RET_UNAFFECTED) return "UNAFFECTED";
  return "VULNERABLE";
}

const field = (cpu: CpuModel, reg: string, f: string) => getField(cpu.id[reg] ?? 0n, reg, f);

const cache = new WeakMap<CpuModel, Map<string, SpectreStates>>();

/**
 * The states the host kernel of generation `gen` reaches on `cpu` with `firmware` (default: the CPU
 * model's own host firmware). Each step names the kernel function it follows; `why` says which rule
 * decided.
 */
export function spectreState(
  gen: KernelGeneration,
  cpu: CpuModel,
  firmware: HostFirmware = cpu.firmware,
): SpectreStates {
  if (firmware === cpu.firmware) {
    const hit = cache.get(cpu)?.get(gen);
    if (hit) return hit;
  }
  const d = data(gen);
  const midr = cpu.midr;
  const conduit = smcccConduit(firmware);
  const why = { v2: "", v4: "", bhb: "", meltdown: "" };

  // --- Spectre-v2: has_spectre_v2 / spectre_v2_enable_mitigation -----------------------------------
  let v2: SpectreState;
  const csv2 = field(cpu, "ID_AA64PFR0_EL1", "CSV2");
  const v2Safe = listed(gen, "spectre_v2_safe_list", midr);
  const wa1 = fwState(archFeatures(firmware, conduit, "wa1"));
  if (csv2 !== 0) {
    v2 = "UNAFFECTED";
    why.v2 = `spectre_v2_get_cpu_hw_mitigation_state: ID_AA64PFR0_EL1.CSV2=${csv2}`;
  } else if (v2Safe) {
    v2 = "UNAFFECTED";
    why.v2 = `spectre_v2_get_cpu_hw_mitigation_state: ${v2Safe} in spectre_v2_safe_list`;
  } else if (wa1 === "UNAFFECTED") {
    v2 = "UNAFFECTED";
    why.v2 = "has_spectre_v2: firmware ARCH_FEATURES(WORKAROUND_1) = UNAFFECTED";
  } else if (wa1 === "MITIGATED") {
    v2 = "MITIGATED";
    why.v2 = `spectre_v2_enable_fw_mitigation: firmware WORKAROUND_1 over ${conduit}`;
  } else {
    v2 = "VULNERABLE";
    why.v2 =
      conduit === "none"
        ? "no CSV2, not safe-listed, firmware below SMCCC 1.1 (arm_smccc_1_1_get_conduit() = NONE)"
        : "no CSV2, not safe-listed, firmware WORKAROUND_1 not supported";
  }

  // --- Spectre-v4: has_spectre_v4 / spectre_v4_enable_mitigation ------------------------------------
  let v4: SpectreState;
  const v4Safe = listed(gen, "spectre_v4_safe_list", midr);
  const ssbs = field(cpu, "ID_AA64PFR1_EL1", "SSBS");
  const wa2 = archFeatures(firmware, conduit, "wa2");
  if (v4Safe) {
    v4 = "UNAFFECTED";
    why.v4 = `spectre_v4_get_cpu_hw_mitigation_state: ${v4Safe} in spectre_v4_safe_list`;
  } else if (ssbs >= 1) {
    v4 = "MITIGATED";
    why.v4 = `spectre_v4_enable_hw_mitigation: ARM64_SSBS (ID_AA64PFR1_EL1.SSBS=${ssbs})`;
  } else if (wa2 === SMCCC_RET_SUCCESS) {
    v4 = "MITIGATED";
    why.v4 = "spectre_v4_enable_fw_mitigation: firmware WORKAROUND_2";
  } else if (wa2 === SMCCC_ARCH_WORKAROUND_RET_UNAFFECTED || wa2 === SMCCC_RET_NOT_REQUIRED) {
    v4 = "UNAFFECTED";
    why.v4 = "has_spectre_v4: firmware ARCH_FEATURES(WORKAROUND_2) = NOT_REQUIRED/UNAFFECTED";
  } else {
    v4 = "VULNERABLE";
    why.v4 =
      conduit === "none"
        ? "not safe-listed, no SSBS, firmware below SMCCC 1.1"
        : "not safe-listed, no SSBS, firmware WORKAROUND_2 not supported";
  }

  // --- Spectre-BHB: is_spectre_bhb_affected / spectre_bhb_enable_mitigation -------------------------
  const loop = d.bhbLoop.find((l) => midrInList(gen, l.list, midr));
  const bhbLoopK = loop?.k ?? 0;
  const csv2p3 = csv2 === 3; // supports_csv2p3
  const clearbhb = field(cpu, "ID_AA64ISAR2_EL1", "CLRBHB") !== 0; // supports_clearbhb
  const ecbhb = field(cpu, "ID_AA64MMFR1_EL1", "ECBHB") !== 0; // supports_ecbhb
  const wa3 = fwState(archFeatures(firmware, conduit, "wa3"));
  const fwMitigation = conduit !== "none" && wa3 === "MITIGATED"; // has_spectre_bhb_fw_mitigation
  let affected: boolean;
  let affectedWhy: string;
  if (csv2p3) {
    affected = false;
    affectedWhy = "is_spectre_bhb_affected: ID_AA64PFR0_EL1.CSV2 = 3 (CSV2_3)";
  } else if (d.logic.bhbAffected === "unlessSafeListed") {
    const safe = listed(gen, "spectre_bhb_safe_list", midr);
    affected = !safe;
    affectedWhy = safe
      ? `is_spectre_bhb_safe: ${safe} in spectre_bhb_safe_list`
      : "is_spectre_bhb_affected: not in spectre_bhb_safe_list, so assumed affected";
  } else {
    // 5.10: affected only when ClearBHB, a loop list, or the firmware says so (is_spectre_bhb_fw_affected)
    const fwListed = listed(gen, "spectre_bhb_firmware_mitigated_list", midr);
    affected = clearbhb || bhbLoopK > 0 || Boolean(fwListed) || fwMitigation;
    affectedWhy = clearbhb
      ? "is_spectre_bhb_affected: ClearBHB"
      : bhbLoopK
        ? `is_spectre_bhb_affected: ${loop!.list}`
        : fwListed
          ? `is_spectre_bhb_fw_affected: ${fwListed} in spectre_bhb_firmware_mitigated_list`
          : fwMitigation
            ? "is_spectre_bhb_fw_affected: firmware WORKAROUND_3"
            : "is_spectre_bhb_affected: no ClearBHB, in no loop list, no firmware WORKAROUND_3 (5.10 rule)";
  }
  let bhb: SpectreState;
  if (!affected) {
    bhb = "UNAFFECTED";
    why.bhb = affectedWhy;
  } else if (v2 === "VULNERABLE") {
    bhb = "VULNERABLE";
    why.bhb = `${affectedWhy}; spectre_bhb_enable_mitigation: Spectre-v2 vulnerable, "no point mitigating Spectre-BHB alone"`;
  } else if (ecbhb) {
    bhb = "MITIGATED";
    why.bhb = `${affectedWhy}; spectre_bhb_enable_mitigation: ECBHB`;
  } else if (clearbhb) {
    bhb = "MITIGATED";
    why.bhb = `${affectedWhy}; spectre_bhb_enable_mitigation: ClearBHB instruction`;
  } else if (bhbLoopK) {
    bhb = "MITIGATED";
    why.bhb = `${affectedWhy}; spectre_bhb_enable_mitigation: branchy loop, k=${bhbLoopK} (${loop!.list})`;
  } else if (fwMitigation) {
    bhb = "MITIGATED";
    why.bhb = `${affectedWhy}; spectre_bhb_enable_mitigation: firmware WORKAROUND_3`;
  } else {
    bhb = "VULNERABLE";
    why.bhb = `${affectedWhy}; spectre_bhb_enable_mitigation: no ECBHB, ClearBHB, loop or firmware WORKAROUND_3`;
  }

  // --- Meltdown: cpufeature.c unmap_kernel_at_el0 / arm64_get_meltdown_state -----------------------
  let meltdown: SpectreState;
  const kptiSafe = listed(gen, "kpti_safe_list", midr);
  const csv3 = field(cpu, "ID_AA64PFR0_EL1", "CSV3");
  if (kptiSafe) {
    meltdown = "UNAFFECTED";
    why.meltdown = `unmap_kernel_at_el0: ${kptiSafe} in kpti_safe_list`;
  } else if (csv3 >= 1) {
    meltdown = "UNAFFECTED";
    why.meltdown = `unmap_kernel_at_el0: ID_AA64PFR0_EL1.CSV3=${csv3}`;
  } else {
    meltdown = "MITIGATED";
    why.meltdown = "unmap_kernel_at_el0: not safe-listed, no CSV3: KPTI (CONFIG_UNMAP_KERNEL_AT_EL0=y)";
  }
  if (!d.logic.meltdownState) why.meltdown += " (5.10 has no arm64_get_meltdown_state(); sysfs only)";

  const out: SpectreStates = { v2, v4, bhb, meltdown, bhbLoopK, smcccConduit: conduit, why };
  if (firmware === cpu.firmware) {
    let m = cache.get(cpu);
    if (!m) cache.set(cpu, (m = new Map()));
    m.set(gen, out);
  }
  return out;
}
