/**
 * What Debian's QEMU does with a VM's registers on an incoming migration on KVM/arm64, by version, as
 * data: bookworm's 7.2, trixie's 10.0 and sid's 11.1, each written as the previous version plus named
 * changes. Each version gives a RestorePolicy (check/restore-policy.ts) and the QEMU-specific facts
 * behind it: the -cpu host properties it has, how cpu_post_load matches the incoming register arrays
 * against the destination's list (QemuMerge), 11.1's built-in tolerances, and the lines QEMU prints.
 * qemuIncoming() plays one incoming migration through those rules.
 *
 * How the facts were read: 7.2 and 10.0 from the Debian source packages (1:7.2+dfsg-7+deb12u18 with
 * its stable patches, 1:10.0.13+ds-0+deb13u1); 11.1 from the arm64 binary of 1:11.1.3+ds-1 (strings,
 * VMState tables, disassembly of the functions named below), as its source package was not
 * available. None of it has been checked by running QEMU; `evidence` says which.
 *
 * The lines QEMU prints are its exact texts, without the "qemu-system-aarch64: " prefix; several
 * lines in one template are joined by LINE_JOIN.
 */
import type { RegId } from "../regs/index.js";
import { coprocOf, decodeId } from "../regs/index.js";
import { FW_REGS, VCPU_FEATURES, errnoDescription } from "../kvm/index.js";
import type { ErrnoName } from "../kvm/index.js";
import type { ErrorTemplate, MissingRegisterRule, RestorePolicy } from "../check/restore-policy.js";
import { CORE_AND_SVE, fillError } from "../check/restore-policy.js";
import { QEMU_DEFAULT_VERSION, QEMU_VERSIONS } from "./vmm-names.js";
import type { QemuVersion } from "./vmm-names.js";

export { QEMU_DEFAULT_VERSION, QEMU_VERSIONS } from "./vmm-names.js";
export type { QemuVersion } from "./vmm-names.js";

/** What a fact rests on: the version's source, or (11.1) its Debian binary. Nothing here was run. */
export type QemuEvidence = "source" | "binary";

/** Joins the lines of one failure in an error template. */
export const LINE_JOIN = " | ";
/** The prefix error_report puts before every line (warn_report adds "warning: "). */
export const QEMU_PREFIX = "qemu-system-aarch64: ";

/** A `-cpu host` property of the version, under KVM. */
export interface QemuCpuProperty {
  name: string;
  /** The values QEMU documents (open-ended where absent). */
  values?: readonly string[];
  what: string;
  rule: string;
}

/** One entry of 11.1's cpreg migration tolerance list (arm_register_cpreg_mig_tolerance). */
export interface QemuTolerance {
  /** The register's catalog name (src/regs). */
  reg: string;
  id: RegId;
  /**
   * either-side (ToleranceNotOnBothEnds): may be missing from the stream or from the destination, any
   * value; source-value (ToleranceOnlySrcTestValue): may come in a stream for a destination without
   * it when its value masked with `mask` equals `value`.
   */
  kind: "either-side" | "source-value";
  mask: bigint;
  value: bigint;
  /** The kernel change it covers. */
  why: string;
}

/** How cpu_post_load matches the incoming cpreg arrays with the destination's list. */
export interface QemuMerge {
  /**
   * Which stream-only registers it looks at: all, or only those below the destination's largest id
   * (7.2/10.0: the loop ends with the destination's list; the stream's tail is dropped unseen).
   */
  examined: "all" | "below-destination-last";
  /** Several stream-only registers: any refused one fails the load, or only the last (by id) decides. */
  decidedBy: "any" | "last";
  /** Registers let through although only one side has them. */
  tolerances: readonly QemuTolerance[];
  /** The line printed per refused stream-only register ({reg}: qemuRegisterName), if any. */
  unknownLine?: ErrorTemplate;
  /** The line printed per destination-only register (the register keeps its reset value), if any. */
  destinationOnlyWarning?: ErrorTemplate;
  rule: string;
}

/**
 * The line write_list_to_kvmstate prints for a refused KVM_SET_ONE_REG (11.1; silent before): `reg`
 * as qemuRegisterName gives it, values in hex without 0x (%lx; %x for 32-bit registers), `current`
 * the value read back (absent when that read failed too), `strerror` the errno's text.
 */
export type QemuRefusedLine = (a: {
  reg: string;
  errno: ErrnoName;
  value: string;
  current?: string;
  strerror: string;
}) => string;

export interface QemuFacts {
  version: QemuVersion;
  evidence: QemuEvidence;
  debian: { suite: string; package: string; upstream: string };
  policy: RestorePolicy;
  properties: readonly QemuCpuProperty[];
  merge: QemuMerge;
  refusedLine?: QemuRefusedLine;
  /** The lines after cpu_post_load returns -1 (a stream-only register or a refused write). */
  postLoadFailure: readonly string[];
  /**
   * Whether cpu_post_load's -1 ends the load. Measured (lab/qemu/results.json): in 7.2 it does; in 10.0
   * and 11.1 the load goes on and the full register put after it (do_kvm_cpu_synchronize_post_init)
   * is what fails, with refusedFailure.
   */
  postLoadFatal: boolean;
  /** The last lines of a load that fails on a refused KVM_SET_ONE_REG. */
  refusedFailure: readonly string[];
  /** The lines of the count check (cpreg_vmstate_array_len); null: the version has none. */
  countFailure: readonly string[] | null;
  /** The vCPU features -cpu host requests, and when. */
  requests: readonly { feature: number; when: string }[];
  /** Registers written only at KVM_PUT_FULL_STATE (kvm_arm_cpreg_level). */
  fullStateOnly: readonly RegId[];
}

export class QemuVersionError extends Error {
  override name = "QemuVersionError";
}

// ---- shared facts ---------------------------------------------------------------------------------

const KVM_REG_ARM_TIMER_CNT = 0x603000000013df1an;
const KVM_REG_ARM_PTIMER_CNT = 0x603000000013df01n;

const CPU_SECTION = "error while loading state for instance 0x0 of device 'cpu'";
const join = (lines: readonly string[]): string => lines.join(LINE_JOIN);

/** -cpu host properties of every version (kvm_arm_add_vcpu_properties, arm_cpu_post_init, cpu64.c). */
const BASE_PROPERTIES: readonly QemuCpuProperty[] = [
  {
    name: "pmu",
    values: ["on", "off"],
    what: "PMU_V3; the property exists only on a host with KVM_CAP_ARM_PMU_V3",
    rule: "arm_cpu_post_init (target/arm/cpu.c)",
  },
  {
    name: "sve",
    values: ["on", "off"],
    what: "SVE (ID_AA64PFR0.SVE from the host)",
    rule: "aarch64_add_sve_properties (target/arm/cpu64.c)",
  },
  {
    name: "sve<N>",
    values: ["on", "off"],
    what: "SVE vector length N bits (128..2048); KVM enables every supported length below the largest",
    rule: "arm_cpu_sve_finalize (target/arm/cpu64.c)",
  },
  {
    name: "pauth",
    values: ["on", "off"],
    what: "PTRAUTH_ADDRESS + PTRAUTH_GENERIC, from the host's ID registers",
    rule: "aarch64_add_pauth_properties (target/arm/cpu64.c)",
  },
  {
    name: "aarch64",
    values: ["on", "off"],
    what: "off: an AArch32 guest (EL1_32BIT), where KVM_CAP_ARM_EL1_32BIT allows it",
    rule: "aarch64_cpu_set_aarch64 (target/arm/cpu64.c)",
  },
  {
    name: "kvm-no-adjvtime",
    values: ["on", "off"],
    what: "leave the virtual counter running while the VM is stopped",
    rule: "kvm_arm_add_vcpu_properties (target/arm/kvm.c)",
  },
  {
    name: "kvm-steal-time",
    values: ["on", "off"],
    what: "PV steal time",
    rule: "kvm_arm_add_vcpu_properties (target/arm/kvm.c)",
  },
];

// ---- QEMU 7.2 (Debian bookworm) -------------------------------------------------------------------

const POST_LOAD_FAILURE_72 = [CPU_SECTION, "load of migration failed: Operation not permitted"];
/** VMSTATE_INT32_POSITIVE_LE(cpreg_vmstate_array_len): get_int32_le, then vmstate_load_state. */
const COUNT_FAILURE_72 = [
  "Invalid value {count} expecting positive value <= {limit}",
  "Failed to load cpu:cpreg_vmstate_array_len",
  CPU_SECTION,
  "load of migration failed: Invalid argument",
];

const QEMU_7_2: QemuFacts = {
  version: "7.2",
  evidence: "source",
  debian: {
    suite: "bookworm",
    package: "1:7.2+dfsg-7+deb12u18",
    upstream: "QEMU 7.2.0 with the stable patches v7.2.1 to v7.2.22",
  },
  policy: {
    id: "qemu@7.2",
    label: "QEMU 7.2",
    source:
      "QEMU 7.2 (Debian 1:7.2+dfsg-7+deb12u18): target/arm/machine.c, target/arm/kvm.c, target/arm/kvm64.c, migration/vmstate-types.c, migration/savevm.c, migration/migration.c",
    // Core and SVE registers travel in the cpu VMState fields; everything else in the cpreg list.
    unsaved: [],
    missing: {
      action: "abort",
      // cpu_post_load: a stream id below the destination's current one -> return -1, nothing printed;
      // its loop ends with the destination's list, so stream ids above the last are never looked at.
      examined: "below-destination-last",
      error: join(POST_LOAD_FAILURE_72),
      rule: "cpu_post_load (target/arm/machine.c)",
    },
    count: {
      excludedCoprocs: CORE_AND_SVE,
      error: join(COUNT_FAILURE_72),
      rule: "vmstate_arm_cpu cpreg_vmstate_array_len (target/arm/machine.c), get_int32_le (migration/vmstate-types.c)",
    },
    refused: {
      // write_list_to_kvmstate only clears its ok flag; cpu_post_load returns -1.
      error: join(POST_LOAD_FAILURE_72),
      rule: "write_list_to_kvmstate (target/arm/kvm.c) from cpu_post_load",
    },
    // kvm_arch_init_vcpu never enables KVM_CAP_ARM_WRITABLE_IMP_ID_REGS.
    writableImpIdRegs: false,
    registerName: (id) => qemuRegisterName(id),
    refusedFeatures: [
      {
        feature: VCPU_FEATURES.HAS_EL2,
        error: "mach-virt: KVM does not support providing Virtualization extensions to the guest CPU",
        rule: "kvm_arch_init_vcpu (target/arm/kvm64.c) never requests it; machvirt_init (hw/arm/virt.c)",
      },
      {
        feature: VCPU_FEATURES.HAS_EL2_E2H0,
        error: "no -cpu or -machine option requests KVM_ARM_VCPU_HAS_EL2_E2H0",
        rule: "kvm_arch_init_vcpu (target/arm/kvm64.c)",
      },
    ],
  },
  properties: BASE_PROPERTIES,
  merge: {
    examined: "below-destination-last",
    decidedBy: "any",
    tolerances: [],
    rule: "cpu_post_load (target/arm/machine.c)",
  },
  postLoadFailure: POST_LOAD_FAILURE_72,
  postLoadFatal: true,
  refusedFailure: POST_LOAD_FAILURE_72,
  countFailure: COUNT_FAILURE_72,
  // kvm_arch_init_vcpu (target/arm/kvm64.c).
  requests: [
    { feature: VCPU_FEATURES.PSCI_0_2, when: "always, when KVM_CAP_ARM_PSCI_0_2" },
    { feature: VCPU_FEATURES.PMU_V3, when: "KVM_CAP_ARM_PMU_V3 and not pmu=off" },
    { feature: VCPU_FEATURES.SVE, when: "the host has SVE and not sve=off" },
    { feature: VCPU_FEATURES.PTRAUTH_ADDRESS, when: "the host has pointer auth and not pauth=off" },
    { feature: VCPU_FEATURES.PTRAUTH_GENERIC, when: "the host has pointer auth and not pauth=off" },
    { feature: VCPU_FEATURES.EL1_32BIT, when: "aarch64=off" },
  ],
  // kvm_arm_cpreg_level (target/arm/kvm64.c non_runtime_cpregs).
  fullStateOnly: [KVM_REG_ARM_TIMER_CNT, KVM_REG_ARM_PTIMER_CNT],
};

// ---- QEMU 10.0 (Debian trixie): 7.2 plus these changes ------------------------------------------

/** Measured (lab/qemu/results.json): the post-load error, then the failed full put after the load. */
const PUT_AFTER_INIT_FAILURE = "Failed to put registers after init: Invalid argument";
const REFUSED_FAILURE_10_0 = [CPU_SECTION, PUT_AFTER_INIT_FAILURE];

/**
 * 10.0: the same rules. What moved: kvm64.c merged into target/arm/kvm.c (kvm_arch_init_vcpu,
 * kvm_arm_reg_syncs_via_cpreg_list, kvm_arm_cpreg_level); process_incoming_migration_co reports
 * through migrate_set_error + error_report_err (same text, exit-on-error). HAS_EL2 still never
 * requested.
 */
const QEMU_10_0: QemuFacts = {
  ...QEMU_7_2,
  version: "10.0",
  postLoadFatal: false,
  refusedFailure: REFUSED_FAILURE_10_0,
  debian: { suite: "trixie", package: "1:10.0.13+ds-0+deb13u1", upstream: "QEMU 10.0.13" },
  policy: {
    ...QEMU_7_2.policy,
    id: "qemu@10.0",
    label: "QEMU 10.0",
    source:
      "QEMU 10.0.13 (Debian 1:10.0.13+ds-0+deb13u1): target/arm/machine.c, target/arm/kvm.c, migration/vmstate-types.c, migration/savevm.c, migration/migration.c",
    // Measured: cpu_post_load's -1 no longer ends the load (lab/qemu/results.json), so a stream-only
    // register is left out and the guest-view rules judge it.
    missing: {
      action: "skip",
      rule: "cpu_post_load (target/arm/machine.c): its -1 does not end the load (measured in the lab)",
    },
    refused: {
      error: join(REFUSED_FAILURE_10_0),
      rule: "write_list_to_kvmstate (target/arm/kvm.c) from do_kvm_cpu_synchronize_post_init (accel/kvm/kvm-all.c)",
    },
    refusedFeatures: QEMU_7_2.policy.refusedFeatures.map((f) => ({
      ...f,
      rule: f.rule.replace("target/arm/kvm64.c", "target/arm/kvm.c"),
    })),
  },
};

// ---- QEMU 11.1 (Debian sid): 10.0 plus these changes --------------------------------------------

/** kvm_arm_set_cpreg_mig_tolerances, called by aarch64_host_initfn (-cpu host with KVM). */
const TOLERANCES_11_1: readonly QemuTolerance[] = [
  {
    reg: "TCR2_EL1",
    id: 0x603000000013c103n,
    kind: "either-side",
    mask: 0n,
    value: 0n,
    why: "listed even when hidden from the guest before Linux 6.13",
  },
  {
    reg: "PIRE0_EL1",
    id: 0x603000000013c512n,
    kind: "either-side",
    mask: 0n,
    value: 0n,
    why: "listed even when hidden from the guest before Linux 6.13",
  },
  {
    reg: "PIR_EL1",
    id: 0x603000000013c513n,
    kind: "either-side",
    mask: 0n,
    value: 0n,
    why: "listed even when hidden from the guest before Linux 6.13",
  },
  {
    reg: "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
    id: FW_REGS.VENDOR_HYP_BMAP_2,
    kind: "source-value",
    mask: 0xffffffffffffffffn,
    value: 0n,
    why: "new in Linux 6.15; dropped only while no service of it is on",
  },
];

const POST_LOAD_FAILURE_11_1 = [
  `load of migration failed: Operation not permitted: ${CPU_SECTION}: post load hook failed for: cpu, version_id: 22, minimum_version: 22, ret: -1`,
];

/** write_list_to_kvmstate (11.1): ENOENT, EINVAL with and without the read-back, any other errno. */
const REFUSED_11_1: QemuRefusedLine = ({ reg, errno, value, current, strerror }) =>
  errno === "ENOENT"
    ? `Could not set register ${reg}: unknown to KVM`
    : errno === "EINVAL"
      ? `Could not set register ${reg} to ${value}${current === undefined ? "" : ` (is ${current})`}`
      : `Could not set register ${reg}: ${strerror}`;

/**
 * 11.1 changes (Eric Auger's cpreg series, Sebastian Ott's kvm-psci-version; read from the binary):
 * - the count check is gone: cpreg_vmstate_array_len is a plain int32, the arrays VMS_ALLOC;
 * - cpu_post_load walks the stream's tail too and names each mismatch
 *   (handle_cpreg_only_in_incoming_stream / handle_cpreg_missing_in_incoming_stream), but the last
 *   stream-only register's verdict overwrites the earlier ones;
 * - the tolerance list above (-cpu host only);
 * - write_list_to_kvmstate names each refused register (kvm_print_register_name);
 * - the failure is one line of prepended errors (vmstate_post_load, qemu_loadvm_section_start_full,
 *   process_incoming_migration_co);
 * - kvm-psci-version; HAS_EL2 with -M virt,virtualization=on (KVM_CAP_ARM_EL2).
 */
const QEMU_11_1: QemuFacts = {
  ...QEMU_10_0,
  version: "11.1",
  evidence: "binary",
  debian: { suite: "sid", package: "1:11.1.3+ds-1", upstream: "QEMU 11.1.3" },
  policy: {
    id: "qemu@11.1",
    label: "QEMU 11.1",
    source:
      "QEMU 11.1.3 (Debian 1:11.1.3+ds-1, read from its arm64 binary): target/arm/machine.c, target/arm/kvm.c, target/arm/cpu64.c, migration/vmstate.c, migration/savevm.c, migration/migration.c",
    unsaved: [],
    // Measured: every stream-only register is named ("fail migration"), yet the load goes on to the
    // full register put (lab/qemu/results.json): the register is left out, the guest-view rules judge it.
    missing: {
      action: "skip",
      rule: "cpu_post_load, handle_cpreg_only_in_incoming_stream (target/arm/machine.c): named, the load goes on (measured in the lab)",
    } satisfies MissingRegisterRule,
    // No count rule: cpreg_vmstate_array_len is a plain int32 and the arrays are allocated (VMS_ALLOC).
    refused: {
      error: join(["Could not set register {vmmReg} to {value} (is {current})", PUT_AFTER_INIT_FAILURE]),
      rule: "write_list_to_kvmstate (target/arm/kvm.c) from do_kvm_cpu_synchronize_post_init (accel/kvm/kvm-all.c)",
    },
    writableImpIdRegs: false,
    registerName: (id) => qemuRegisterName(id),
    refusedFeatures: [
      {
        feature: VCPU_FEATURES.HAS_EL2_E2H0,
        error: "no -cpu or -machine option requests KVM_ARM_VCPU_HAS_EL2_E2H0",
        rule: "kvm_arch_init_vcpu (target/arm/kvm.c)",
      },
    ],
  },
  properties: [
    ...BASE_PROPERTIES,
    {
      name: "kvm-psci-version",
      values: ["0.1", "0.2", "1.0", "1.1", "1.2", "1.3"],
      what: "the PSCI version KVM gives the guest, written at vCPU creation (0.1 drops PSCI_0_2)",
      rule: "kvm_set_psci_version, kvm_arch_init_vcpu (target/arm/kvm.c)",
    },
  ],
  merge: {
    examined: "all",
    decidedBy: "last",
    tolerances: TOLERANCES_11_1,
    unknownLine:
      "handle_cpreg_only_in_incoming_stream: {reg} in the incoming stream but unknown on the destination: fail migration",
    destinationOnlyWarning:
      "warning: handle_cpreg_missing_in_incoming_stream: {reg} expected by the destination but not in the incoming stream: skip it",
    rule: "cpu_post_load, handle_cpreg_only_in_incoming_stream, handle_cpreg_missing_in_incoming_stream, arm_cpu_match_cpreg_mig_tolerance (target/arm/machine.c, target/arm/cpu.c)",
  },
  refusedLine: REFUSED_11_1,
  postLoadFailure: POST_LOAD_FAILURE_11_1,
  refusedFailure: [PUT_AFTER_INIT_FAILURE],
  countFailure: null,
  requests: [
    {
      feature: VCPU_FEATURES.PSCI_0_2,
      when: "KVM_CAP_ARM_PSCI_0_2, unless kvm-psci-version=0.1",
    },
    ...QEMU_10_0.requests.filter((r) => r.feature !== VCPU_FEATURES.PSCI_0_2),
    { feature: VCPU_FEATURES.HAS_EL2, when: "-M virt,virtualization=on and KVM_CAP_ARM_EL2" },
  ],
};

const TABLE: Readonly<Record<QemuVersion, QemuFacts>> = {
  "7.2": QEMU_7_2,
  "10.0": QEMU_10_0,
  "11.1": QEMU_11_1,
};

// ---- lookups ----------------------------------------------------------------------------------------

const isVersion = (v: string): v is QemuVersion => (QEMU_VERSIONS as readonly string[]).includes(v);

/** The facts of a version ("7.2", "10.0", "11.1"; the newest when omitted). */
export function qemuFacts(version?: string): QemuFacts {
  const v = version ?? QEMU_DEFAULT_VERSION;
  if (!isVersion(v))
    throw new QemuVersionError(`unknown QEMU version '${v}' (known: ${QEMU_VERSIONS.join(", ")})`);
  return TABLE[v];
}

/** The restore policy of a version, for `--vmm qemu@V` (and `--vmm qemu`: the newest). */
export function qemuPolicy(version?: string): RestorePolicy {
  return qemuFacts(version).policy;
}

/**
 * The version of a `--vmm` name: "qemu" -> the newest, "qemu@10.0" -> "10.0"; undefined for another
 * VMM's name. An unknown QEMU version throws QemuVersionError.
 */
export function qemuVersionOf(vmm: string): QemuVersion | undefined {
  if (vmm === "qemu") return QEMU_DEFAULT_VERSION;
  if (!vmm.startsWith("qemu@")) return undefined;
  return qemuFacts(vmm.slice("qemu@".length)).version;
}

/** Whether a version has a -cpu host property. */
export const hasProperty = (facts: QemuFacts, name: string): boolean =>
  facts.properties.some((p) => p.name === name);

// ---- registers as QEMU names them -----------------------------------------------------------------

const hexNo0x = (v: bigint): string => v.toString(16);

/** kvm_print_register_name (11.1, target/arm/kvm.c), for the registers of the cpreg list. */
export function qemuRegisterName(id: RegId): string {
  const d = decodeId(id);
  switch (d.class) {
    case "demux":
      return `demuxed reg ${hexNo0x(id)}`;
    case "sysreg":
      return `system register op0:${d.op0} op1:${d.op1} crn:${d.crn} crm:${d.crm} op2:${d.op2}`;
    case "fw":
      return `fw reg ${d.index}`;
    case "fwBitmap":
      return `fw feat reg ${d.index}`;
    default:
      return hexNo0x(id);
  }
}

/** kvm_arm_reg_syncs_via_cpreg_list: every register but the core and SVE ones. */
export const inCpregList = (id: RegId): boolean => !CORE_AND_SVE.includes(coprocOf(id));

/** The tolerance entry of a register (11.1), if any. */
export const toleranceOf = (facts: QemuFacts, id: RegId): QemuTolerance | undefined =>
  facts.merge.tolerances.find((t) => t.id === id);

/** arm_cpu_match_cpreg_mig_tolerance: whether a stream-only register with `value` is let through. */
export function streamOnlyTolerated(facts: QemuFacts, id: RegId, value: bigint): boolean {
  const t = toleranceOf(facts, id);
  if (!t) return false;
  return t.kind === "either-side" || (value & t.mask) === t.value;
}

// ---- one incoming migration ----------------------------------------------------------------------

export interface IncomingRegister {
  id: RegId;
  value: bigint;
}

/** What KVM_SET_ONE_REG answers on the destination: an errno name (and the value read back), or ok. */
export type WriteAnswer = { errno: ErrnoName; current?: bigint } | undefined;

export interface IncomingDestination {
  /** KVM_GET_REG_LIST of the destination's vCPU (any order; core and SVE ids are left out here). */
  ids: readonly RegId[];
  /** KVM_SET_ONE_REG of a value from the stream (default: every write accepted). */
  write?: (id: RegId, value: bigint) => WriteAnswer;
}

export type StreamOnlyOutcome = "refused" | "tolerated" | "unexamined";

export interface IncomingResult {
  loads: boolean;
  cause?: "count" | "stream-only" | "refused-write";
  /** What QEMU prints, in order, with its prefix. */
  stderr: string[];
  /**
   * Stream registers the destination lacks, by id: refused (7.2/10.0: would fail the load by itself,
   * cpu_post_load returns at the first; 11.1: reported, the last decides), tolerated, or unexamined
   * (above the destination's last register, 7.2/10.0).
   */
  streamOnly: { id: RegId; outcome: StreamOnlyOutcome }[];
  /** Destination registers the stream lacks: they keep the destination's reset value. */
  destinationOnly: RegId[];
  /** Registers whose write the destination refused. */
  refused: RegId[];
}

/** strerror(3)'s text of an errno. */
const strerrorOf = (errno: ErrnoName): string => {
  const d = errnoDescription(errno) ?? `Unknown error ${errno}`;
  return d.charAt(0).toUpperCase() + d.slice(1);
};

/** The value as write_list_to_kvmstate prints it: %x of the low 32 bits for a U32 register, else %lx. */
const printed = (id: RegId, v: bigint): string =>
  hexNo0x(decodeId(id).size === "U32" ? v & 0xffffffffn : v & 0xffffffffffffffffn);

const ascending = (a: RegId, b: RegId): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * One incoming migration of a vCPU whose stream carries `stream` (the source's cpreg list with its
 * values; core and SVE ids are left out here) onto a destination, as the version's cpu_post_load and
 * write_list_to_kvmstate would run it: whether it loads, and what QEMU prints.
 */
export function qemuIncoming(
  version: QemuVersion,
  stream: readonly IncomingRegister[],
  destination: IncomingDestination,
): IncomingResult {
  const facts = qemuFacts(version);
  const s = [...new Map(stream.filter((r) => inCpregList(r.id)).map((r) => [r.id, r])).values()].sort(
    (a, b) => ascending(a.id, b.id),
  );
  const d = [...new Set(destination.ids.filter(inCpregList))].sort(ascending);
  const out: IncomingResult = { loads: true, stderr: [], streamOnly: [], destinationOnly: [], refused: [] };
  const print = (line: string) => out.stderr.push(QEMU_PREFIX + line);
  const fail = (
    cause: NonNullable<IncomingResult["cause"]>,
    lines: readonly string[],
    values: { count?: number; limit?: number } = {},
  ) => {
    out.loads = false;
    out.cause = cause;
    for (const l of lines) print(fillError(l, values));
    return out;
  };

  // vmstate_arm_cpu: the count check reads the length before any register (7.2, 10.0).
  if (facts.countFailure && s.length > d.length)
    return fail("count", facts.countFailure, { count: s.length, limit: d.length });

  // cpu_post_load: both lists ascending; i walks the destination's, v the stream's.
  let failed = false;
  const onStreamOnly = (r: IncomingRegister) => {
    const tolerated = streamOnlyTolerated(facts, r.id, r.value);
    out.streamOnly.push({ id: r.id, outcome: tolerated ? "tolerated" : "refused" });
    if (!tolerated && facts.merge.unknownLine)
      print(fillError(facts.merge.unknownLine, { reg: qemuRegisterName(r.id) }));
    failed = facts.merge.decidedBy === "last" ? !tolerated : failed || !tolerated;
  };
  const onDestinationOnly = (id: RegId) => {
    out.destinationOnly.push(id);
    const t = toleranceOf(facts, id);
    if (facts.merge.destinationOnlyWarning && t?.kind !== "either-side")
      print(fillError(facts.merge.destinationOnlyWarning, { reg: qemuRegisterName(id) }));
  };
  const merged: IncomingRegister[] = [];
  let i = 0;
  let v = 0;
  while (i < d.length && v < s.length) {
    const di = d[i]!;
    const sv = s[v]!;
    if (sv.id > di) {
      onDestinationOnly(di);
      i++;
    } else if (sv.id < di) {
      onStreamOnly(sv);
      v++;
    } else {
      merged.push(sv);
      i++;
      v++;
    }
  }
  for (; i < d.length; i++) onDestinationOnly(d[i]!);
  for (; v < s.length; v++) {
    if (facts.merge.examined === "all") onStreamOnly(s[v]!);
    else out.streamOnly.push({ id: s[v]!.id, outcome: "unexamined" });
  }
  if (failed && facts.postLoadFatal) return fail("stream-only", facts.postLoadFailure);

  // write_list_to_kvmstate(KVM_PUT_FULL_STATE): every destination register, refusals reported (11.1).
  for (const r of merged) {
    const answer = destination.write?.(r.id, r.value);
    if (!answer) continue;
    out.refused.push(r.id);
    if (facts.refusedLine)
      print(
        facts.refusedLine({
          reg: qemuRegisterName(r.id),
          errno: answer.errno,
          value: printed(r.id, r.value),
          ...(answer.current !== undefined ? { current: printed(r.id, answer.current) } : {}),
          strerror: strerrorOf(answer.errno),
        }),
      );
  }
  if (out.refused.length > 0) return fail("refused-write", facts.refusedFailure);
  return out;
}
