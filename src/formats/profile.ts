/**
 * The host profile: what one host kernel's KVM shows a VMM, as a versioned JSON document
 * (`"format": "guestabi-host-profile", "version": 1`). `guestabi probe` writes it; comparisons,
 * baselines and the simulator's conformance checks read it. The zod schema below is the definition;
 * schema/host-profile.schema.json is generated from it (z.toJSONSchema, see schemas.ts) and a test
 * keeps the two equal.
 *
 * JSON vs memory: register ids and values up to 64 bits are "0x" hex strings in JSON and bigint in
 * memory; wider values (V-registers, SVE) are hex byte strings in JSON and Uint8Array in memory; a
 * failed KVM operation is its errno name in both.
 */
import * as z from "zod";
import { KERNEL_GENERATIONS, describeId } from "../regs/index.js";
import type { KernelGeneration, RegId } from "../regs/index.js";
import { VCPU_FEATURES } from "../kvm/index.js";
import type { VcpuFeatureName } from "../kvm/index.js";
import {
  BackendName,
  CpuLabel,
  DocumentHeader,
  Errno,
  OpResult,
  RegIdJson,
  RegReadingJson,
  ToolJson,
  U64Json,
  U64OrErrnoJson,
  text,
} from "./schema-parts.js";
import { formatJson, shownValue } from "./json-format.js";

export const PROFILE_FORMAT = "guestabi-host-profile";
export const PROFILE_VERSION = 1;

/** Bounds that make a hostile file fail validation instead of exhausting memory. */
export const PROFILE_LIMITS = {
  fileBytes: 16 * 1024 * 1024,
  configs: 16,
  registers: 8192,
  groups: 1024,
  trials: 256,
  caps: 1024,
  dmesgLines: 4096,
  runItems: 1024,
} as const;

const FEATURE_NAMES = Object.keys(VCPU_FEATURES) as [VcpuFeatureName, ...VcpuFeatureName[]];
const ConfigName = z.string().regex(/^[a-z0-9][a-z0-9.+-]{0,31}$/, "a configuration name like psci-0.2+pmu");
const Int = z.number().int();
const Count = Int.min(0).max(1_000_000_000);

/** A record with bounded keys (zod's record has no size limit of its own). */
const boundedRecord = <V extends z.ZodType>(key: z.ZodString, value: V, max: number) =>
  z.record(key, value).refine((r) => Object.keys(r).length <= max, { message: `more than ${max} entries` });

// ---- host --------------------------------------------------------------------------------------

export const HostFactsJson = z
  .strictObject({
    vulnerabilities: boundedRecord(z.string().regex(/^[a-z0-9_]{1,64}$/), text(512), 64).describe(
      "/sys/devices/system/cpu/vulnerabilities/<name>: its one-line state, by file name",
    ),
    midr: U64Json.nullable().describe(
      "/sys/devices/system/cpu/cpu0/regs/identification/midr_el1 (null: unreadable)",
    ),
    revidr: U64Json.nullable().describe("the same for revidr_el1"),
    dmesg: z
      .union([z.array(text(1024)).max(PROFILE_LIMITS.dmesgLines), Errno])
      .describe(
        "kernel log messages mentioning psci, smccc or kvm, without timestamps (/dev/kmsg), or the errno that kept the log from being read (EPERM under dmesg_restrict)",
      ),
  })
  .describe("what the Linux host shows about itself, for checking a simulator against");
export type HostFacts = z.output<typeof HostFactsJson>;

const HostJson = z.strictObject({
  release: text(128).describe("uname -r"),
  generation: z
    .enum(KERNEL_GENERATIONS)
    .nullable()
    .describe("the kernel generation the release maps to (its major.minor), null for another kernel"),
  cpuLabel: CpuLabel.nullable().describe("what the caller says the CPU is (--cpu-label), or null"),
  facts: HostFactsJson.nullable().describe("read from the Linux host; null on the simulator"),
});

// ---- evidence --------------------------------------------------------------------------------------

/** Where a profile's facts come from: guestabi's own probe, or evidence imported from elsewhere. */
export const EVIDENCE_SOURCES = [
  "probe",
  "firecracker-fingerprint",
  "firecracker-template",
  "guestabi-profile",
] as const;
export type EvidenceSource = (typeof EVIDENCE_SOURCES)[number];

const EvidenceJson = z
  .strictObject({
    source: z.enum(EVIDENCE_SOURCES),
    from: text(512).describe(
      "what produced it, e.g. 'fingerprint_ARM_NEOVERSE_N1_6.1host.json: Firecracker 1.16.0-dev fingerprint dump'",
    ),
    notMeasured: z
      .array(text(256))
      .max(32)
      .describe(
        "what the evidence lacks, a few words each; verdicts that need it assume a kernel generation's rule",
      ),
  })
  .describe("where the profile's facts come from; absent: measured by guestabi probe on the host itself");
export type Evidence = z.output<typeof EvidenceJson>;

// ---- kvm ---------------------------------------------------------------------------------------

const CapAnswer = z.union([Int, Errno]);

const KvmJson = z.strictObject({
  apiVersion: Int.describe("KVM_GET_API_VERSION"),
  maxIpaBits: Int.min(0)
    .max(64)
    .describe("KVM_CHECK_EXTENSION(KVM_CAP_ARM_VM_IPA_SIZE): the largest guest physical address size"),
  preferredTarget: z
    .union([z.strictObject({ target: Int, features: z.array(Int).max(224) }), Errno])
    .describe("KVM_ARM_PREFERRED_TARGET on a fresh VM, or its errno"),
  caps: boundedRecord(
    z.string().regex(/^KVM_CAP_[A-Z0-9_]{1,64}$/),
    z.tuple([CapAnswer, CapAnswer]),
    PROFILE_LIMITS.caps,
  ).describe(
    "every capability of src/kvm/generated/caps.json: [KVM_CHECK_EXTENSION on /dev/kvm, on a fresh VM] (an errno if the ioctl failed)",
  ),
  smcccFilter: z
    .union([z.boolean(), Errno])
    .optional()
    .describe(
      "KVM_HAS_DEVICE_ATTR(KVM_ARM_VM_SMCCC_CTRL, FILTER) on a fresh VM (an errno: the ioctl is refused)",
    ),
  counterOffset: OpResult.optional().describe("KVM_ARM_SET_COUNTER_OFFSET(0) on a fresh VM"),
});

// ---- the first run of the guest probe program ---------------------------------------------------

const ProbeEndJson = z
  .discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("done") }),
    z.strictObject({
      kind: z.literal("system-event"),
      event: text(32),
      type: Int,
      data: z.array(U64Json).max(16),
    }),
    z.strictObject({ kind: z.literal("exit"), reason: text(32), code: Int }),
    z.strictObject({ kind: z.literal("error"), op: text(256), errno: Errno, message: text(512) }),
    z.strictObject({ kind: z.literal("exit-limit"), exits: Count }),
  ])
  .describe("how the run stopped (system-event: the program's final PSCI SYSTEM_OFF)");

const ExceptionJson = z
  .strictObject({
    esr: U64Json,
    elr: U64Json,
    far: U64Json,
    vector: Int.min(0).max(15),
    ec: Int.min(0).max(63).describe("ESR_ELx.EC"),
  })
  .describe("an exception the guest's vector table caught in this item (UNDEF etc.)");

const RunItemJson = z
  .strictObject({
    name: text(128),
    outcome: z
      .enum(["returned", "value", "unhandled", "exception", "ended-run", "incomplete", "not-reached"])
      .describe("unhandled: a load no in-kernel device answered (a KVM_EXIT_MMIO read)"),
    x: z.tuple([U64Json, U64Json, U64Json, U64Json]).optional().describe("returned: x0..x3 after the call"),
    value: U64Json.optional().describe("value: what the MRS read"),
    exception: ExceptionJson.optional(),
    stored: z
      .array(U64Json.nullable())
      .max(4)
      .optional()
      .describe("incomplete: the result registers that arrived (null: missing)"),
    timeVarying: z
      .literal(true)
      .optional()
      .describe("the results change from run to run (KVM_PTP): compare only the outcome"),
  })
  .describe("one item of the guest probe program (src/kvm/guest), as the guest saw it");

const FirstRunJson = z
  .strictObject({
    exits: Count.describe("KVM_RUN exits until the program was done"),
    end: ProbeEndJson,
    completed: z.boolean().describe("the program got through every item"),
    hypercalls: Count.describe("KVM_EXIT_HYPERCALL exits (none unless an SMCCC filter forwards calls)"),
    unexpected: Count.describe("MMIO accesses outside the program's protocol (should be 0)"),
    items: z.array(RunItemJson).max(PROFILE_LIMITS.runItems),
  })
  .describe("the vCPU's first KVM_RUN: the guest probe program");

// ---- time-varying registers ------------------------------------------------------------------

const TimeVaryingJson = z.strictObject({
  id: RegIdJson,
  name: text(64),
  mask: U64Json.describe(
    "the bits that move on their own (0xffffffffffffffff: all); compare only the others",
  ),
  why: text(256).describe(
    "the kernel function that moves it, or 'observed' when two reads at reset differed",
  ),
});

// ---- write experiments -------------------------------------------------------------------------

export const PHASES = ["before-run", "after-run"] as const;
export type Phase = (typeof PHASES)[number];

export const TRIAL_KINDS = [
  "same",
  "zero",
  "all-ones",
  "psci-version",
  "field-lower",
  "field-raise",
  "imp-id",
  "imp-id-writable",
] as const;
export type TrialKind = (typeof TRIAL_KINDS)[number];

const TrialJson = z
  .strictObject({
    kind: z.enum(TRIAL_KINDS).describe("which experiment (src/probe/experiments.ts lists them)"),
    field: text(64).optional().describe("field-lower / field-raise: the catalog field changed by one"),
    value: U64Json.describe("the value given to KVM_SET_ONE_REG"),
    enableCap: OpResult.optional().describe(
      "imp-id-writable: KVM_ENABLE_CAP(KVM_CAP_ARM_WRITABLE_IMP_ID_REGS) on the fresh VM",
    ),
    result: OpResult.describe("KVM_SET_ONE_REG: ok or its errno"),
    read: U64OrErrnoJson.optional().describe(
      "after ok: KVM_GET_ONE_REG right after the write (or its errno)",
    ),
    restore: z
      .union([Errno, z.literal("differs")])
      .optional()
      .describe(
        "only when writing the previous value back failed: its errno, or 'differs' when it read back otherwise; the next trial ran on a fresh VM",
      ),
  })
  .describe("one KVM_SET_ONE_REG write experiment");
export type Trial = z.output<typeof TrialJson>;

const ExperimentGroupJson = z
  .strictObject({
    id: RegIdJson,
    name: text(64),
    phase: z.enum(PHASES).describe("before-run: on a vCPU that never ran; after-run: on the vCPU that ran"),
    original: U64OrErrnoJson.describe(
      "KVM_GET_ONE_REG before the trials: what 'same' writes and fields are changed from",
    ),
    trials: z.array(TrialJson).max(PROFILE_LIMITS.trials),
    bits: z
      .array(U64OrErrnoJson)
      .length(64)
      .optional()
      .describe(
        "firmware registers, compactly: entry i is the write of 1 << i; the value read back ('0x...') if KVM accepted it, else the errno. Stands for 64 trials of kind 'bit'",
      ),
    bitsRestore: z
      .array(z.tuple([Int.min(0).max(63), z.union([Errno, z.literal("differs")])]))
      .max(64)
      .optional()
      .describe("bit writes whose undoing failed: [bit, errno or 'differs']; the next write used a fresh VM"),
  })
  .describe("the write experiments of one register in one phase");
export type ExperimentGroup = z.output<typeof ExperimentGroupJson>;

// ---- the machine around the vCPU: vGICv3, ITS, PMU (src/kvm/machine.ts) ----------------------------

/** The userspace-visible GIC registers a profile records (KVM_DEV_ARM_VGIC_GRP_{DIST,REDIST,ITS}_REGS). */
export const MACHINE_REGS = [
  "GICD_CTLR",
  "GICD_TYPER",
  "GICD_IIDR",
  "GICD_TYPER2",
  "GICR_CTLR",
  "GICR_IIDR",
  "GICR_TYPER",
  "GITS_CTLR",
  "GITS_IIDR",
  "GITS_TYPER",
] as const;
export type MachineRegName = (typeof MACHINE_REGS)[number];

/** [value tried, "ok" or the errno]: one write trial on a fresh VM. */
const WriteTrialJson = z.tuple([Int.min(0).max(0xffff_ffff), OpResult]);

/** A register write trial: "ignored" when KVM returned 0 but the register reads back unchanged. */
const RegWriteTrialJson = z.tuple([Int.min(0).max(0xffff_ffff), z.union([OpResult, z.literal("ignored")])]);

const MachineJson = z
  .strictObject({
    nrIrqs: Int.min(0).max(1024).describe("KVM_DEV_ARM_VGIC_GRP_NR_IRQS the probe set (SPIs + 32)"),
    its: z.boolean().describe("whether the probe created an ITS"),
    steps: z
      .strictObject({
        gic: OpResult.describe(
          "KVM_CREATE_DEVICE(VGIC_V3) with its frames and interrupt count, then the ITS (kvm/machine.ts createIrqchip)",
        ),
        init: OpResult.optional().describe(
          "KVM_DEV_ARM_VGIC_CTRL_INIT (with the PMU's IRQ and INIT around it)",
        ),
      })
      .describe("how far the VMM-style setup got; a host without a vGICv3 stops at gic"),
    iidrBeforeInit: U64OrErrnoJson.optional().describe(
      "GICD_IIDR read by userspace before CTRL_INIT: EBUSY where the revision only exists after vgic_init",
    ),
    regs: z
      .array(z.tuple([z.enum(MACHINE_REGS), U64OrErrnoJson]))
      .max(MACHINE_REGS.length)
      .optional()
      .describe(
        "after CTRL_INIT, before the first run: each register as userspace reads it (vCPU 0's redistributor)",
      ),
    iidrWrites: z
      .array(RegWriteTrialJson)
      .max(16)
      .optional()
      .describe(
        "GICD_IIDR written after CTRL_INIT with each revision 0..4 (KVM's product and implementer bits)",
      ),
    itsIidrWrites: z
      .array(RegWriteTrialJson)
      .max(16)
      .optional()
      .describe("GITS_IIDR written with each table ABI revision 0..2: which ABIs the ITS accepts"),
    itsUnknownCtrl: OpResult.optional().describe("an unknown ITS GRP_CTRL attribute (99) set"),
    gicFieldAfterRun: U64OrErrnoJson.optional().describe(
      "ID_AA64PFR0_EL1 after the first run when userspace wrote GIC = 0 before it (writable ID registers only): whether KVM forces the GIC field",
    ),
    pmuAttrs: z
      .array(z.tuple([Int.min(0).max(15), z.union([z.boolean(), Errno])]))
      .max(16)
      .optional()
      .describe("PMU configurations: KVM_HAS_DEVICE_ATTR(PMU_V3_CTRL, attr) for attrs 0..5"),
    nrCountersWrites: z
      .array(WriteTrialJson)
      .max(4)
      .optional()
      .describe(
        "PMU configurations with SET_NR_COUNTERS: the PMU's counter count and one more, each on a fresh VM",
      ),
  })
  .describe("the machine a VMM builds around the vCPU: vGICv3 with an ITS, the PMU wired to PPI 23");
export type MachineProfile = z.output<typeof MachineJson>;

// ---- per vCPU configuration --------------------------------------------------------------------

const Readings = z.array(RegReadingJson).max(PROFILE_LIMITS.registers);

const ConfigJson = z
  .strictObject({
    name: ConfigName,
    features: z
      .array(z.enum(FEATURE_NAMES))
      .max(FEATURE_NAMES.length)
      .describe("KVM_ARM_VCPU_INIT feature names"),
    init: OpResult.describe("KVM_ARM_VCPU_INIT with the preferred target and these features"),
    finalize: OpResult.optional().describe("KVM_ARM_VCPU_FINALIZE(SVE), for SVE configurations"),
    pmuInit: OpResult.optional().describe(
      "KVM_ARM_VCPU_PMU_V3_CTRL/INIT, for PMU_V3 (after the vGIC's CTRL_INIT when the VM has one)",
    ),
    machine: MachineJson.optional().describe(
      "absent: the VM had no in-kernel irqchip (older profiles, imports)",
    ),
    durationMs: Count,
    reset: Readings.optional().describe(
      "KVM_GET_REG_LIST in its order, each [id, value] read by KVM_GET_ONE_REG at reset: '0x...' up to 64 bits, hex bytes (little-endian, no 0x) for wider registers, or the errno of the read",
    ),
    omitted: z
      .array(RegIdJson)
      .max(64)
      .optional()
      .describe(
        "imported evidence: ids the kernel lists that the evidence leaves out (Firecracker's dump drops PC, CNTV_CVAL_EL0 and CNTPCT_EL0): listed, value not measured",
      ),
    writableMasks: z
      .union([z.array(z.tuple([RegIdJson, U64Json])).max(192), Errno])
      .optional()
      .describe(
        "KVM_ARM_GET_REG_WRITABLE_MASKS of the feature ID range, nonzero masks only, or its errno (< 6.7)",
      ),
    timeVarying: z.array(TimeVaryingJson).max(PROFILE_LIMITS.registers).optional(),
    firstRun: FirstRunJson.optional(),
    afterRun: z
      .strictObject({
        changed: z
          .array(z.tuple([RegIdJson, U64OrErrnoJson, U64OrErrnoJson]))
          .max(PROFILE_LIMITS.registers)
          .describe(
            "[id, at reset, after the run] of each 64-bit register that changed (time-varying bits ignored)",
          ),
        listAdded: z
          .array(RegIdJson)
          .max(PROFILE_LIMITS.registers)
          .describe("ids KVM_GET_REG_LIST added by the run"),
        listRemoved: z.array(RegIdJson).max(PROFILE_LIMITS.registers).describe("ids it dropped"),
        values: Readings.optional().describe(
          "psci-0.2 only: every register's value after the run, in list order: the saved state restore trials replay",
        ),
      })
      .optional(),
    experiments: z.array(ExperimentGroupJson).max(PROFILE_LIMITS.groups).optional(),
  })
  .describe("one vCPU configuration; everything after durationMs exists when the vCPU could be set up");
export type ConfigProfile = z.output<typeof ConfigJson>;

export const HostProfileSchema = z
  .strictObject({
    format: z.literal(PROFILE_FORMAT),
    version: z.literal(PROFILE_VERSION),
    tool: ToolJson,
    backend: BackendName.describe("the backend that answered: linux (real /dev/kvm) or sim"),
    probedAt: z.iso.datetime().describe("when the probe started (UTC)"),
    durationMs: Count,
    host: HostJson,
    evidence: EvidenceJson.optional(),
    kvm: KvmJson.nullable().describe("null: not measured (imported evidence without KVM's answers)"),
    configs: z.array(ConfigJson).max(PROFILE_LIMITS.configs),
    skipped: z
      .array(z.strictObject({ name: ConfigName, why: text(256) }))
      .max(PROFILE_LIMITS.configs)
      .describe("configurations not probed, and why (e.g. KVM_CAP_ARM_SVE is 0)"),
  })
  .describe(
    "guestabi host profile: what a host kernel's KVM/arm64 shows a VMM. Register ids are 0x + 16 hex digits, values up to 64 bits 0x + minimal hex, wider values hex bytes; a failed KVM operation is its errno name",
  );
export type HostProfile = z.output<typeof HostProfileSchema>;

/** What a profile says of its host and backend: enough to choose among profiles without loading them. */
export type ProfileHead = Pick<HostProfile, "backend" | "host">;

const ProfileHeadSchema = z.object({ backend: HostProfileSchema.shape.backend, host: HostJson });

// ---- reading and writing -------------------------------------------------------------------------

/** A profile (or other guestabi document) that cannot be used; the message is one line. */
export class ProfileError extends Error {
  override name = "ProfileError";
}

/** The first problem zod found, as one line: "configs[0].reset[3][0]: register id does not decode". */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "invalid document";
  const path = issue.path
    .map((p, i) => (typeof p === "number" ? `[${p}]` : `${i ? "." : ""}${String(p)}`))
    .join("");
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problems)` : "";
  return `${path || "document"}: ${issue.message.split("\n")[0]}${more}`;
}

/**
 * Parses JSON text of a guestabi document: size limit, JSON syntax, format and version (checked first
 * so that a newer file gets a clear message), then the full schema. Throws ProfileError (one line).
 */
export function parseDocument<S extends z.ZodType>(
  input: string,
  source: string,
  expect: { format: string; version: number; schema: S; maxBytes: number },
): z.output<S> {
  if (input.length > expect.maxBytes)
    throw new ProfileError(`${source}: larger than ${expect.maxBytes} bytes, not a ${expect.format} file`);
  let json: unknown;
  try {
    json = JSON.parse(input);
  } catch (e) {
    throw new ProfileError(`${source}: not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  const header = DocumentHeader.safeParse(json);
  if (!header.success || header.data.format !== expect.format)
    throw new ProfileError(`${source}: not a ${expect.format} document (no "format": "${expect.format}")`);
  if (header.data.version !== expect.version)
    throw new ProfileError(
      `${source}: unsupported ${expect.format} version ${shownValue(header.data.version)} (this guestabi reads version ${expect.version})`,
    );
  const parsed = expect.schema.safeParse(json);
  if (!parsed.success) throw new ProfileError(`${source}: ${firstIssue(parsed.error)}`);
  return parsed.data;
}

/** Reads a host profile from JSON text; `source` names it in errors (a file name). */
export function readProfile(input: string, source = "profile"): HostProfile {
  return parseDocument(input, source, {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    schema: HostProfileSchema,
    maxBytes: PROFILE_LIMITS.fileBytes,
  });
}

/**
 * The head of a profile's JSON text: readProfile's checks (size, JSON, format and version) with only
 * its host and backend validated, the rest not read; for a store that holds whole profiles and
 * validates each when it is used (readProfile). ProfileError as readProfile's.
 */
export function readProfileHead(input: string, source = "profile"): ProfileHead {
  return parseDocument(input, source, {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    schema: ProfileHeadSchema,
    maxBytes: PROFILE_LIMITS.fileBytes,
  });
}

/** The JSON form of a profile (validated: an invalid profile throws ProfileError). */
export function profileToJson(profile: HostProfile): unknown {
  const r = HostProfileSchema.safeEncode(profile);
  if (!r.success) throw new ProfileError(`profile does not match its schema: ${firstIssue(r.error)}`);
  return r.data;
}

/** The profile as text: compact but readable JSON (short arrays and objects on one line). */
export function serializeProfile(profile: HostProfile): string {
  return formatJson(profileToJson(profile), 140);
}

// ---- kernel generations --------------------------------------------------------------------------

/** The generation a kernel release belongs to ("6.1.0-31-arm64" -> "6.1"), or null. */
export function kernelGeneration(release: string): KernelGeneration | null {
  const v = kernelVersion(release);
  const gen = v ? `${v[0]}.${v[1]}` : "";
  return (KERNEL_GENERATIONS as readonly string[]).includes(gen) ? (gen as KernelGeneration) : null;
}

/**
 * The kernel generation whose rules stand in for what a profile did not measure:
 * - exact: the release is of a modelled generation (its major.minor);
 * - assumed: another kernel; the newest modelled generation not newer than it (a 6.18 kernel has at
 *   least what 6.12 has, not necessarily what 7.2 added);
 * - unknown: older than every modelled generation, or a release that does not parse: the oldest
 *   generation's rules, which nothing vouches for.
 */
export interface RulesGeneration {
  generation: KernelGeneration;
  basis: "exact" | "assumed" | "unknown";
}

/** "6.18.30-61.116.amzn2023.aarch64" -> [6, 18]; null when the release does not start with major.minor. */
export function kernelVersion(release: string): [number, number] | null {
  const m = /^(\d{1,4})\.(\d{1,4})(?:\D|$)/.exec(release);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function rulesGeneration(release: string): RulesGeneration {
  const exact = kernelGeneration(release);
  if (exact) return { generation: exact, basis: "exact" };
  const v = kernelVersion(release);
  const notNewer = v
    ? KERNEL_GENERATIONS.filter((g) => {
        const [major, minor] = g.split(".").map(Number) as [number, number];
        return major < v[0] || (major === v[0] && minor <= v[1]);
      })
    : [];
  const newest = notNewer[notNewer.length - 1];
  return newest
    ? { generation: newest, basis: "assumed" }
    : { generation: KERNEL_GENERATIONS[0], basis: "unknown" };
}

/** The generation whose rules stand in for what `profile` did not measure (rulesGeneration). */
export function profileRules(profile: Pick<HostProfile, "host">): RulesGeneration {
  const g = profile.host.generation;
  return g ? { generation: g, basis: "exact" } : rulesGeneration(profile.host.release);
}

// ---- views -----------------------------------------------------------------------------------------

/** One write experiment, expanded: what the grouped, compact JSON form stands for. */
export interface ExperimentRecord {
  id: RegId;
  name: string;
  phase: Phase;
  kind: TrialKind | "bit";
  field?: string;
  /** bit trials: the bit number. */
  bit?: number;
  value: bigint;
  result: string;
  read?: bigint | string;
}

/** Every experiment of a configuration as flat records, bit sweeps expanded (64 "bit" records). */
export function flattenExperiments(config: ConfigProfile): ExperimentRecord[] {
  const out: ExperimentRecord[] = [];
  for (const g of config.experiments ?? []) {
    const base = { id: g.id, name: g.name, phase: g.phase };
    for (const t of g.trials)
      out.push({
        ...base,
        kind: t.kind,
        ...(t.field !== undefined ? { field: t.field } : {}),
        value: t.value,
        result: t.result,
        ...(t.read !== undefined ? { read: t.read } : {}),
      });
    g.bits?.forEach((r, bit) =>
      out.push({
        ...base,
        kind: "bit",
        bit,
        value: 1n << BigInt(bit),
        result: typeof r === "bigint" ? "ok" : r,
        ...(typeof r === "bigint" ? { read: r } : {}),
      }),
    );
  }
  return out;
}

/** The register name guestabi gives an id (catalog name, or its encoding). */
export function regName(id: RegId): string {
  return describeId(id).name;
}
