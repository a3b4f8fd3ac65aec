/**
 * A host profile from a Firecracker `fingerprint dump` or `template dump` (firecracker-evidence.ts
 * reads them): the register list and every value KVM showed Firecracker's first vCPU, with what such a
 * file cannot tell recorded as the profile's evidence (notMeasured).
 *
 * What the file's values are: Firecracker creates the vCPU with its one configuration (below), applies
 * no template, sets the boot registers (PSTATE, and on vCPU 0 the PC and X0: setup_boot_regs in
 * src/vmm/src/arch/aarch64/vcpu.rs) and reads every register of KVM_GET_REG_LIST (dump_cpu_config).
 * The core registers are therefore as Firecracker left them, not as KVM reset them; they are recorded
 * as read, like every other value.
 */
import { basename } from "node:path";
import type { RegId } from "../regs/index.js";
import { leBytes, regSizeBytes } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { PROFILE_FORMAT, PROFILE_VERSION, kernelGeneration, regName } from "../formats/profile.js";
import type { ConfigProfile, Evidence, HostProfile } from "../formats/profile.js";
import { toolVersion } from "../formats/version.js";
import { DUMP_EXCLUDED, FirecrackerFileError } from "./firecracker-evidence.js";
import type { FirecrackerEvidence, FirecrackerReg } from "./firecracker-evidence.js";

/**
 * The vCPU configuration Firecracker uses on aarch64 (src/vmm/src/arch/aarch64/vcpu.rs): default_kvi
 * takes KVM's preferred target and adds KVM_ARM_VCPU_PSCI_0_2; init_vcpu refuses KVM_ARM_VCPU_PMU_V3
 * (Firecracker cannot initialise a PMU). A dump records no vcpu_features of its own (config_to_template
 * in src/cpu-template-helper/src/template/dump/aarch64.rs writes reg_modifiers only).
 */
export const FIRECRACKER_VCPU_CONFIG = { name: "psci-0.2", features: ["PSCI_0_2"] } as const;

/** What a Firecracker dump does not record, for evidence.notMeasured. */
export const FIRECRACKER_NOT_MEASURED: readonly string[] = [
  "KVM capabilities and IPA size",
  "write experiments and writable masks",
  "guest view (first run)",
  "other vCPU configurations",
];

/**
 * KVM_REG_ARM_PTIMER_CTL: a kernel that lists the physical timer's registers lists its CTL, CNT and
 * CVAL together (arch/arm64/kvm/guest.c timer_reg_list, 6.4 on and in vendor backports), so a dump
 * that has CTL had CNTPCT (KVM_REG_ARM_PTIMER_CNT) in the list before Firecracker dropped it.
 */
const PTIMER_CTL: RegId = 0x603000000013df11n;
const PTIMER_CNT: RegId = DUMP_EXCLUDED[2]!;

/** Bounds of the profile's text fields (formats/profile.ts: release 128, evidence.from 512). */
const RELEASE_CHARS = 128;
const FROM_CHARS = 512;
const FILE_NAME_CHARS = 160;

export interface FirecrackerImportOptions {
  /** The input's path: errors name it, evidence.from its base name. */
  source: string;
  /** The kernel release of a template dump, which does not record it; a fingerprint must agree. */
  release?: string;
  /** What the caller says the CPU is (--cpu-label). */
  cpuLabel?: string | null;
  /** The import time, which becomes probedAt (a dump carries no date). */
  now?: () => Date;
  toolVersion?: string;
}

/** `s` made fit for one of the profile's text fields: control characters shown as "?", cut at `max`. */
function profileText(s: string, max: number): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\u0000-\u0008\u000a-\u001f\u007f]/g, "?");
  return clean.length > max ? clean.slice(0, max - 1) + "…" : clean;
}

/** evidence.from: "NAME: WHAT", NAME the base name of `source`, within the field's bound. */
export function evidenceFrom(source: string, what: string): string {
  return profileText(`${profileText(basename(source), FILE_NAME_CHARS)}: ${what}`, FROM_CHARS);
}

/** A dump's value as the profile holds it: up to 64 bits a bigint, a U128 its 16 bytes little-endian. */
function profileValue(r: FirecrackerReg): RegValue {
  const size = regSizeBytes(r.id);
  const low = BigInt.asUintN(Math.min(size, 8) * 8, r.value);
  if (size <= 8) return low;
  return Uint8Array.of(...leBytes(low, 8), ...leBytes(BigInt.asUintN(64, r.value >> 64n), 8));
}

/** The reason `e` is not a dump of a host (a file that modifies one instead), or undefined. */
function notADump(e: FirecrackerEvidence): string | undefined {
  const modifies = "a CPU template that sets only some bits modifies a host, it does not describe one";
  const partial = e.regs.findIndex((r) => r.width !== 128 || r.mask !== (1n << 128n) - 1n);
  if (partial >= 0) {
    const r = e.regs[partial]!;
    return `reg_modifiers[${partial}] (${regName(r.id)}) leaves bits to KVM ('x' or a short bitmap): ${modifies}`;
  }
  if (e.regs.length === 0) return "no reg_modifiers: not a dump of a host's registers";
  if (e.vcpuFeatures.length > 0) return `it sets vcpu_features: ${modifies}`;
  if (e.kvmCapabilities.length > 0) return `it sets kvm_capabilities: ${modifies}`;
  const excluded = e.regs.find((r) => DUMP_EXCLUDED.includes(r.id));
  if (excluded) return `it lists ${regName(excluded.id)}, which every dump leaves out: not a dump`;
  return undefined;
}

/** The ids the kernel listed that the dump left out (see PTIMER_CTL). */
function omittedIds(e: FirecrackerEvidence): RegId[] {
  const listsPtimer = e.regs.some((r) => r.id === PTIMER_CTL);
  return DUMP_EXCLUDED.filter((id) => id !== PTIMER_CNT || listsPtimer);
}

/** The kernel release: a fingerprint's own, or --release for a template dump. */
function releaseOf(e: FirecrackerEvidence, opts: FirecrackerImportOptions): string {
  const recorded = e.host?.kernelRelease;
  const given = opts.release;
  if (recorded !== undefined) {
    if (given !== undefined && given !== recorded)
      throw new FirecrackerFileError(
        `${opts.source}: the fingerprint records kernel ${recorded}, --release says ${given}`,
      );
    return recorded;
  }
  if (given === undefined)
    throw new FirecrackerFileError(
      `${opts.source}: a template dump does not record its kernel: give the host's 'uname -r' with --release`,
    );
  if (given.length > RELEASE_CHARS || profileText(given, RELEASE_CHARS) !== given)
    throw new FirecrackerFileError(`--release: at most ${RELEASE_CHARS} characters, no control characters`);
  return given;
}

function evidenceOf(e: FirecrackerEvidence, opts: FirecrackerImportOptions, at: string): Evidence {
  const what = e.host
    ? `Firecracker ${e.host.firecrackerVersion} fingerprint dump (microcode (REVIDR_EL1) ${e.host.microcodeVersion}, bios ${e.host.biosVersion} revision ${e.host.biosRevision})`
    : "Firecracker template dump, kernel release given by --release";
  return {
    source: e.kind === "fingerprint" ? "firecracker-fingerprint" : "firecracker-template",
    from: evidenceFrom(opts.source, `${what}; imported ${at}, the dump has no date of its own`),
    notMeasured: [...FIRECRACKER_NOT_MEASURED],
  };
}

/**
 * The host profile a Firecracker fingerprint dump or template dump describes. Throws
 * FirecrackerFileError (one line) for a file that is not a dump: a hand-written CPU template (bits
 * left to KVM, vCPU features or capabilities), a template dump without `opts.release`.
 */
export function profileFromFirecracker(e: FirecrackerEvidence, opts: FirecrackerImportOptions): HostProfile {
  const refusal = notADump(e);
  if (refusal !== undefined) throw new FirecrackerFileError(`${opts.source}: ${refusal}`);
  const release = releaseOf(e, opts);
  const probedAt = (opts.now?.() ?? new Date()).toISOString();
  const config: ConfigProfile = {
    name: FIRECRACKER_VCPU_CONFIG.name,
    features: [...FIRECRACKER_VCPU_CONFIG.features],
    init: "ok",
    durationMs: 0,
    reset: e.regs.map((r) => [r.id, profileValue(r)]),
    omitted: omittedIds(e),
  };
  return {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    tool: { name: "guestabi", version: opts.toolVersion ?? toolVersion() },
    backend: "linux",
    probedAt,
    durationMs: 0,
    host: { release, generation: kernelGeneration(release), cpuLabel: opts.cpuLabel ?? null, facts: null },
    evidence: evidenceOf(e, opts, probedAt),
    kvm: null,
    configs: [config],
    skipped: [],
  };
}
