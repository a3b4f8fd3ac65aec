/**
 * An ABI template as a Firecracker aarch64 custom CPU template (docs/cpu_templates/cpu-templates.md;
 * the rules it must pass are firecracker-template-rules.ts):
 *
 *   {
 *     "kvm_capabilities": ["170"],
 *     "vcpu_features": [{ "index": 0, "bitmap": "0b0001001x" }],
 *     "reg_modifiers": [{ "addr": "0x603000000013c020", "bitmap": "0bxxxx...0010" }]
 *   }
 *
 * For target hosts: the `hosts` given (their profiles), else the hosts the template records
 * (provenance.derivedFrom) by their kernel generation. What it writes:
 * - vcpu_features: the template's features set, the other known ones cleared, POWER_OFF (which Firecracker
 *   sets on secondary vCPUs itself) kept; PSCI_0_2 always (Firecracker's default_kvi sets it and its
 *   device tree announces arm,psci-0.2: fdt.rs create_psci_node); never PMU_V3, which Firecracker refuses
 *   (vcpu.rs init_vcpu), so a template's PMU is left out with a note;
 * - kvm_capabilities: the KVM_CAP each written feature needs (arm.c system_supported_vcpu_features), as
 *   Firecracker's own examples pair them (tests/data/custom_cpu_templates/AARCH64_WITH_SVE_AND_PAC.json:
 *   170, 171, 172); so never 126 (KVM_CAP_ARM_PMU_V3);
 * - reg_modifiers, each a register every target host lists (Firecracker reads every template register on
 *   vCPU 0 before boot and ends the boot on ENOENT: cpu_config/aarch64/mod.rs CpuConfiguration::new);
 *   those some target host lacks are left out with a note. ID registers first (sorted by id), then the
 *   CCSIDR values (32-bit demux registers, after CTR_EL0, against which set_ccsidr checks line sizes),
 *   then PSCI_VERSION and the hypercall bitmaps. Left out with a note: MIDR/REVIDR/AIDR (KVM refuses a
 *   change without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which Firecracker never enables: set_imp_id_reg),
 *   the WORKAROUND_1/2/3 levels (KVM only checks them: kvm_arm_set_fw_reg), the SVE vector lengths (a U512
 *   register; validate() takes at most 128 bits) and the machine pins (firecracker-machine.ts);
 * - an ID register's bitmap: a bit is 0/1 where some target host can change it (its writable mask, 6.7+:
 *   KVM_ARM_GET_REG_WRITABLE_MASKS, measured or of its generation) or shows another value (a host without
 *   writable masks, before 6.7, takes a write only where KVM allows it: the value is then KVM's to judge);
 *   every other bit is x, Firecracker's way of keeping KVM's value, which there is the template's on every
 *   target host. Bits that describe the template's PMU are x too, as the guest has none: PMUVer and
 *   PerfMon (PMU_FIELDS), and the fields where a target host's vCPU with PMU_V3 differs from the one
 *   without. A register with no 0/1 bit left is not written. Without host profiles nothing tells what a
 *   host keeps: ID registers are written in full (PMU fields aside), with a note;
 * - CCSIDR values and firmware registers in full: no writable mask covers them, KVM judges each value
 *   (set_ccsidr / demux_c15_set, kvm_arm_set_fw_reg, kvm_arm_set_fw_reg_bmap).
 * Notes also say what Firecracker overrides after applying the template: CLIDR_EL1's Ctype and LoC fields
 * on 6.3+ hosts (arch/aarch64/mod.rs override_clidr). The result is then run through Firecracker's rules
 * on each target profile; what they refuse is in `refused`.
 */
import { decodeId, formatId, nameOf, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { FW_REGS, KVM_CAP, VCPU_FEATURES } from "../kvm/index.js";
import type { AbiTemplate } from "../formats/template.js";
import { ccsidrId } from "../formats/template.js";
import type { HostProfile } from "../formats/profile.js";
import { kernelVersion, rulesGeneration } from "../formats/profile.js";
import type { HostIdentity } from "../formats/snapshot.js";
import { IMP_ID_REGS } from "../kvm/rules/id-regs.js";
import { generationModel } from "../kvm/kernels/generations.js";
import { configView, featureName } from "../check/config-view.js";
import type { ConfigView } from "../check/config-view.js";
import { firecrackerMachineNotes } from "./firecracker-machine.js";
import { FC_BOOT_PMU, fcBootGetReg } from "./firecracker-errors.js";
import { FIRECRACKER_VCPU_FEATURES } from "./firecracker-policy.js";
import { CLIDR_SYSFS_FIELDS, checkFirecrackerTemplate } from "./firecracker-template-rules.js";
import type { FirecrackerViolation } from "./firecracker-template-rules.js";

export interface FirecrackerRegModifier {
  addr: string;
  bitmap: string;
}

export interface FirecrackerVcpuFeatures {
  index: number;
  bitmap: string;
}

export interface FirecrackerCpuTemplate {
  kvm_capabilities: string[];
  vcpu_features: FirecrackerVcpuFeatures[];
  reg_modifiers: FirecrackerRegModifier[];
}

/** A target host given by its profile. */
export interface FirecrackerHost {
  name: string;
  profile: HostProfile;
}

export interface FirecrackerExportOptions {
  /** The hosts the template is for; absent: the hosts the template records, by kernel generation. */
  hosts?: readonly FirecrackerHost[];
}

export interface FirecrackerExport {
  template: FirecrackerCpuTemplate;
  /** What could not be expressed, was left out, or is overridden by Firecracker; one line each. */
  notes: string[];
  /** The target hosts, and where their register lists come from. */
  targets: { name: string; from: "profile" | "kernel generation" }[];
  /** What Firecracker's rules refuse on each target host profile (empty when every host takes it). */
  refused: { host: string; violations: FirecrackerViolation[] }[];
}

/** A bitmap string of `width` characters: bits of `value` inside `mask` as 0/1, the rest x. */
export function firecrackerBitmap(width: number, value: bigint, mask: bigint, contract = false): string {
  let s = "";
  for (let b = width - 1; b >= 0; b--) {
    const bit = 1n << BigInt(b);
    s += mask & bit ? (value & bit ? "1" : "0") : "x";
  }
  if (contract) s = s.replace(/^x+/, "") || "x";
  return "0b" + s;
}

const WORKAROUNDS = new Set<RegId>([
  FW_REGS.SMCCC_ARCH_WORKAROUND_1,
  FW_REGS.SMCCC_ARCH_WORKAROUND_2,
  FW_REGS.SMCCC_ARCH_WORKAROUND_3,
]);
const ALL64 = (1n << 64n) - 1n;
const ALL32 = (1n << 32n) - 1n;
const CLIDR_EL1 = sysregId(3, 1, 0, 0, 1);

/** The capability each written vCPU feature needs (arm.c system_supported_vcpu_features); no PMU_V3. */
const FEATURE_CAPS: Partial<Record<number, number>> = {
  [VCPU_FEATURES.EL1_32BIT]: KVM_CAP.ARM_EL1_32BIT,
  [VCPU_FEATURES.SVE]: KVM_CAP.ARM_SVE,
  [VCPU_FEATURES.PTRAUTH_ADDRESS]: KVM_CAP.ARM_PTRAUTH_ADDRESS,
  [VCPU_FEATURES.PTRAUTH_GENERIC]: KVM_CAP.ARM_PTRAUTH_GENERIC,
  [VCPU_FEATURES.HAS_EL2]: KVM_CAP.ARM_EL2,
  [VCPU_FEATURES.HAS_EL2_E2H0]: KVM_CAP.ARM_EL2_E2H0,
};

/** A target host as the export sees it. */
interface Target {
  name: string;
  release: string;
  from: "profile" | "kernel generation";
  /** Whether it lists `id`; undefined where unknown (a generation tells only its firmware registers). */
  lists: (id: RegId) => boolean | undefined;
  /** Where its register list comes from, for notes. */
  listFrom: string;
  /** Its vCPU with Firecracker's features: values and writable masks (profiles only). */
  view?: ConfigView;
  /** ID register bits that differ between its vCPU with the template's PMU and without. */
  pmuBits: Map<RegId, bigint>;
  profile?: HostProfile;
}

const isFirmware = (id: RegId): boolean => {
  const c = decodeId(id).class;
  return c === "fw" || c === "fwBitmap";
};
const hex = (v: bigint): string => "0x" + v.toString(16);

/** The 4-bit fields holding any of `bits`: ID register fields are 4 bits wide (Arm ARM, the ID scheme). */
function widenToFields(bits: bigint): bigint {
  let out = 0n;
  for (let shift = 0n; shift < 64n; shift += 4n) if ((bits >> shift) & 0xfn) out |= 0xfn << shift;
  return out;
}
const names = (bits: readonly number[]): string => bits.map(featureName).join(", ");

function profileTarget(h: FirecrackerHost, features: number[], withPmu: number[] | undefined): Target {
  const view = configView(h.profile, features);
  const pmuBits = new Map<RegId, bigint>();
  const pmuView = view && withPmu ? configView(h.profile, withPmu) : undefined;
  for (const [id, v] of pmuView?.reset ?? []) {
    const w = view?.reset.get(id);
    if (typeof v === "bigint" && typeof w === "bigint" && v !== w) pmuBits.set(id, widenToFields(v ^ w));
  }
  const ids = new Set(view?.ids ?? []);
  return {
    name: h.name,
    release: h.profile.host.release,
    from: "profile",
    lists: (id) => (view ? ids.has(id) : undefined),
    listFrom: view ? `its KVM_GET_REG_LIST, ${view.name}` : "",
    ...(view ? { view } : {}),
    pmuBits,
    profile: h.profile,
  };
}

/** A host the template records: its kernel generation's firmware registers (kvm_arm_copy_fw_reg_indices). */
function generationTarget(h: HostIdentity): Target {
  const rules = rulesGeneration(h.release);
  const fw = new Set(generationModel(rules.generation).fwRegs);
  const basis =
    rules.basis === "exact" ? "" : `, ${rules.basis === "assumed" ? "assumed" : "unknown kernel"}`;
  return {
    name: h.release + (h.cpuLabel ? ` (${h.cpuLabel})` : ""),
    release: h.release,
    from: "kernel generation",
    lists: (id) => (isFirmware(id) ? fw.has(id) : undefined),
    listFrom: `the ${rules.generation} generation's firmware registers, kvm_arm_copy_fw_reg_indices${basis}`,
    pmuBits: new Map(),
  };
}

/**
 * ID fields that follow the vCPU's PMU: 0 without KVM_ARM_VCPU_PMU_V3 (sys_regs.c: ID_AA64DFR0_EL1.PMUVer
 * and ID_DFR0_EL1.PerfMon from the vCPU's PMU, kvm_vcpu_has_pmu).
 */
const PMU_FIELDS = new Map<RegId, bigint>([
  [sysregId(3, 0, 0, 5, 0), 0xf00n], // ID_AA64DFR0_EL1.PMUVer [11:8]
  [sysregId(3, 0, 0, 1, 2), 0xf000000n], // ID_DFR0_EL1.PerfMon [27:24]
]);

/**
 * The 0/1 bits of an ID register's bitmap (the module comment's rule), the PMU bits left as x, and
 * the target hosts that keep other values in bits they let no write change.
 */
function idBits(
  id: RegId,
  value: bigint,
  targets: readonly Target[],
  dropsPmu: boolean,
): { mask: bigint; pmu: bigint; kept: string[] } {
  let pmu = dropsPmu ? (PMU_FIELDS.get(id) ?? 0n) : 0n;
  for (const t of targets) pmu |= t.pmuBits.get(id) ?? 0n;
  if (targets.length === 0 || targets.some((t) => !t.view)) return { mask: ALL64 & ~pmu, pmu, kept: [] };
  let mask = 0n;
  for (const t of targets) {
    const r = t.view!.reset.get(id);
    const writable = t.view!.masks ? (t.view!.masks.get(id) ?? 0n) : 0n;
    mask |= writable | (typeof r === "bigint" ? (value ^ r) & ALL64 : ALL64);
  }
  const kept = targets.flatMap((t) => {
    const r = t.view!.reset.get(id);
    const masks = t.view!.masks;
    if (!masks || typeof r !== "bigint") return [];
    const bad = (value ^ r) & ~(masks.get(id) ?? 0n) & ~pmu & ALL64;
    return bad ? [`${t.name} shows ${hex(r)} and lets no write change bits ${hex(bad)}`] : [];
  });
  return { mask: mask & ~pmu, pmu, kept };
}

export function toFirecracker(t: AbiTemplate, opts: FirecrackerExportOptions = {}): FirecrackerExport {
  const notes: string[] = [];
  const dropsPmu = t.features.includes(VCPU_FEATURES.PMU_V3);
  const features = [
    ...new Set([
      ...FIRECRACKER_VCPU_FEATURES.always,
      ...t.features.filter((f) => f !== VCPU_FEATURES.POWER_OFF && f !== VCPU_FEATURES.PMU_V3),
    ]),
  ].sort((a, b) => a - b);
  if (dropsPmu)
    notes.push(
      `PMU_V3 left out: Firecracker refuses it at boot (arch/aarch64/vcpu.rs init_vcpu, v1.16.0+: "${FC_BOOT_PMU}"), so the guest has no PMU`,
    );
  if (!t.features.includes(VCPU_FEATURES.PSCI_0_2))
    notes.push(
      "PSCI_0_2 set although the template lacks it: Firecracker's vCPUs always have it (vcpu.rs default_kvi) and its device tree announces arm,psci-0.2 (fdt.rs)",
    );

  const withPmu = dropsPmu ? [...features, VCPU_FEATURES.PMU_V3].sort((a, b) => a - b) : undefined;
  const targets: Target[] = opts.hosts
    ? opts.hosts.map((h) => profileTarget(h, features, withPmu))
    : t.provenance.derivedFrom.map(generationTarget);
  for (const x of targets)
    if (x.from === "profile" && !x.view)
      notes.push(
        `${x.name}: no probed configuration initialises with ${names(features)}; its register list is unknown`,
      );
  if (targets.length === 0)
    notes.push(
      "no target hosts (--hosts, or hosts the template records): registers are not checked against any host's register list",
    );
  else if (targets.some((x) => !x.view))
    notes.push(
      "ID registers written in full: without every target host's profile (--hosts) nothing tells which bits a host keeps (x)",
    );

  /** Whether every target host lists `id`; a note names those that do not. */
  const listedEverywhere = (id: RegId, name: string): boolean => {
    const lacking = targets.filter((x) => x.lists(id) === false);
    if (lacking.length === 0) return true;
    notes.push(
      `${name} (${formatId(id)}) left out: not listed by ${lacking.map((x) => `${x.name} (${x.listFrom})`).join(", ")}; ` +
        `Firecracker reads every template register before boot and ENOENT ends it ("${fcBootGetReg(id, "ENOENT")}")`,
    );
    return false;
  };

  const sortIds = <V>(m: Map<RegId, V>) => [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const reg_modifiers: FirecrackerRegModifier[] = [];
  const pmuFields: string[] = [];
  for (const [id, value] of sortIds(t.idRegs)) {
    const name = nameOf(id).name;
    if (IMP_ID_REGS.has(name)) {
      notes.push(
        `${name} left out: KVM refuses changing it without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which Firecracker never enables (set_imp_id_reg)`,
      );
      continue;
    }
    if (!listedEverywhere(id, name)) continue;
    const { mask, pmu, kept } = idBits(id, value, targets, dropsPmu);
    if (pmu) pmuFields.push(`${name} bits ${hex(pmu)}`);
    for (const k of kept)
      notes.push(
        `${name} ${hex(value)}: ${k}; Firecracker's boot there fails writing it (KVM_SET_ONE_REG EINVAL)`,
      );
    if (mask) reg_modifiers.push({ addr: formatId(id), bitmap: firecrackerBitmap(64, value, mask) });
  }
  if (pmuFields.length)
    notes.push(
      `the ID fields that describe the template's PMU left as x, KVM's value for a vCPU without one: ${pmuFields.join(", ")}`,
    );
  for (const [sel, value] of [...(t.ccsidr ?? [])].sort(([a], [b]) => a - b)) {
    const id = ccsidrId(sel);
    if (listedEverywhere(id, `CCSIDR_EL1 of CSSELR ${sel}`))
      reg_modifiers.push({ addr: formatId(id), bitmap: firecrackerBitmap(32, value, ALL32) });
  }
  for (const [id, value] of sortIds(t.firmware)) {
    const name = nameOf(id).name;
    if (WORKAROUNDS.has(id)) {
      notes.push(
        `${name} left out: KVM only checks it, the guest sees the kernel's level (kvm_arm_set_fw_reg)`,
      );
      continue;
    }
    if (listedEverywhere(id, name))
      reg_modifiers.push({ addr: formatId(id), bitmap: firecrackerBitmap(64, value, ALL64) });
  }
  const clidr = t.idRegs.get(CLIDR_EL1);
  if (clidr !== undefined && reg_modifiers.some((m) => BigInt(m.addr) === CLIDR_EL1)) {
    const recent = targets.filter((x) => {
      const v = kernelVersion(x.release);
      return !v || v[0] > 6 || (v[0] === 6 && v[1] >= 3);
    });
    if (targets.length === 0 || recent.length > 0)
      notes.push(
        `CLIDR_EL1 ${hex(clidr)}: after applying the template Firecracker rewrites its Ctype and LoC fields (${hex(CLIDR_SYSFS_FIELDS)}) from the host's sysfs cache topology ` +
          `(arch/aarch64/mod.rs override_clidr; v1.14.4, v1.15.1, v1.16.0+); on ${recent.length ? recent.map((x) => x.name).join(", ") : "a 6.3+ host"}, whose KVM makes CLIDR_EL1 up (6.3+), ` +
          `the guest then sees the host's cache levels, not the template's${t.ccsidr?.size ? ", whose CCSIDR values may describe others" : ""}`,
      );
  }
  if (t.sveVqs)
    notes.push(
      `SVE vector lengths (${t.sveVqs.map((q) => q * 128).join(", ")} bits) left out: KVM_REG_ARM64_SVE_VLS is U512, Firecracker bitmaps hold 128 bits`,
    );
  notes.push(...firecrackerMachineNotes(t.machine));

  // kvm_vcpu_init.features[], word by word.
  const known = Object.values(VCPU_FEATURES).filter((b) => b !== VCPU_FEATURES.POWER_OFF);
  const words = new Map<number, { value: bigint; mask: bigint }>();
  const word = (bit: number) => {
    const w = words.get(bit >> 5) ?? { value: 0n, mask: 0n };
    words.set(bit >> 5, w);
    return w;
  };
  for (const b of [...known, ...features]) word(b).mask |= 1n << BigInt(b & 31);
  for (const b of features) word(b).value |= 1n << BigInt(b & 31);
  const vcpu_features = [...words]
    .sort(([a], [b]) => a - b)
    .map(([index, w]) => ({ index, bitmap: firecrackerBitmap(32, w.value, w.mask, true) }));

  const kvm_capabilities = [...new Set(features.map((f) => FEATURE_CAPS[f]).filter((c) => c !== undefined))]
    .sort((a, b) => a - b)
    .map(String);
  const template = { kvm_capabilities, vcpu_features, reg_modifiers };
  const text = formatFirecracker(template);
  const refused = targets.flatMap((x) => {
    if (!x.profile) return [];
    const violations = checkFirecrackerTemplate(text, x.profile).violations;
    return violations.length ? [{ host: x.name, violations }] : [];
  });
  return {
    template,
    notes,
    targets: targets.map((x) => ({ name: x.name, from: x.from })),
    refused,
  };
}

/** The JSON text Firecracker reads (PUT /cpu-config, or "cpu-config" in a --config-file). */
export function formatFirecracker(t: FirecrackerCpuTemplate): string {
  return JSON.stringify(t, null, 2) + "\n";
}
