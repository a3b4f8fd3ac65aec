/**
 * Cloud Hypervisor (aarch64, KVM): reading the vCPU state of a snapshot's state.json, and its restore
 * rules as a RestorePolicy. Facts from github.com/cloud-hypervisor/cloud-hypervisor at its release tags
 * v29.0 (2023-01) to v53.0 (2026-07), cited per rule.
 *
 * state.json (vmm/src/migration/mod.rs SNAPSHOT_STATE_FILE; vm.rs Vm::send: serde_json::to_vec of the
 * VM's Snapshot) is a tree of vm-migration Snapshots (vm-migration/src/lib.rs): { "snapshots": { id:
 * Snapshot } (a BTreeMap), "snapshot_data": SnapshotData or null }. The VM's children are
 * "cpu-manager", "memory-manager" and "device-manager" (vmm/src/lib.rs *_SNAPSHOT_ID); the CPU
 * manager's children are its vCPUs by id ("0", "1", ...: Vcpu::id), each a leaf whose snapshot_data is
 * its CpuState (vmm/src/cpu.rs Vcpu::snapshot). The state inside is JSON too, in one of two wrappers:
 *   v29-v38  SnapshotData(Vec<u8>), a newtype: the state's JSON text as an array of byte values
 *   v39+     SnapshotData { state: String }: the state's JSON text in a string (commit 10ab87d6a)
 * A CpuState is {"Kvm": VcpuKvmState} (hypervisor/src/lib.rs; MSHV states are {"Mshv": ...}), and
 * VcpuKvmState (hypervisor/src/kvm/aarch64/mod.rs) is mp_state, core_regs (kvm_regs), sys_regs
 * (Vec<kvm_one_reg>, the value in `addr`), and from v53 pre_finalize_regs and extended_regs
 * (ExtendedReg { id, data }: the SVE registers, KVM_REG_ARM64_SVE_VLS before KVM_ARM_VCPU_FINALIZE).
 * The kvm-bindings structs are written two ways:
 *   v29-v38  Cloud Hypervisor's kvm-bindings fork (ch-v0.6.0-tdx, ch-v0.7.0) derives serde: objects,
 *            u64 and u128 values as JSON numbers (kvm_regs with bindgen's __bindgen_padding_0)
 *   v39+     kvm-bindings 0.8+ serde_impls! (serialize.rs): serialize_bytes of the struct's memory, a
 *            JSON array of byte values (kvm_regs 864 bytes, kvm_one_reg 16, kvm_mp_state 4)
 * Register ids and values above 2^53 are JSON numbers in the v29-v38 form and in v53's ExtendedReg.id,
 * so the reader parses JSON itself, integers as bigint (JSON.parse would round them).
 *
 * What KvmVcpu::state (hypervisor/src/kvm/mod.rs) saves: the core registers through get_regs into
 * kvm_regs, and every other register KVM_GET_REG_LIST lists (reg_list.retain(is_system_register))
 * with KVM_GET_ONE_REG into sys_regs, as a u64 (a U32 register in its low half). is_system_register
 * (kvm/aarch64/mod.rs) asserts U32 or U64 up to v52, so a vCPU with SVE registers panics the snapshot
 * in v43-v52 (which request SVE: Vcpu::init, vcpu_set_processor_features); v53 saves them
 * (commit 5c25d82f5) but then leaves fp_regs, fpsr and fpcr out of kvm_regs (get_fpsimd_regs only
 * without SVE). KVM_ARM_VCPU_INIT is not saved: the restore (CpuManager::create_vcpu) calls Vcpu::init,
 * which requests the destination's preferred target, PSCI 0.2, POWER_OFF past vCPU 0, PMU_V3 when
 * the destination offers KVM_CAP_ARM_PMU_V3, and SVE (v43+) when it has SVE.
 */
import { z } from "zod";
import { COPROC, CORE_REGS, coprocOf, formatId, makeId, malformedReason, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { ARM_TARGETS, VCPU_FEATURES, regSizeBytes, regValueFromBytes } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { SNAPSHOT_LIMITS, SVE_VLS_ID, validateSnapshot, zodProblem } from "../formats/snapshot.js";
import type { Snapshot, SnapshotErrorCode, VcpuSnapshot } from "../formats/snapshot.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { UNKNOWN_SOURCE, addRegister, vmmFileError, vmmVcpu } from "./vmm-snapshot.js";
import type { VmmSnapshotRead } from "./vmm-snapshot.js";

const KIND = "Cloud Hypervisor state.json";

export const CLOUD_HYPERVISOR_LIMITS = {
  /** state.json holds every device's state too; v29-v38 write each section as an array of byte values. */
  fileBytes: 64 << 20,
  /** JSON nesting (the snapshot tree and the states inside it are a few levels deep). */
  depth: 64,
  vcpus: SNAPSHOT_LIMITS.vcpus,
  /** KvmVcpu::state reads at most 500 ids (RegList::new(500)). */
  regsPerVcpu: 4096,
  /** Digits of one JSON integer: a u128 has 39. */
  numberDigits: 64,
} as const;

function fail(code: SnapshotErrorCode, message: string): never {
  throw vmmFileError(KIND, code, message);
}

// ---- JSON with exact integers ---------------------------------------------------------------------

type Frame = { array: unknown[] } | { object: Record<string, unknown>; key: string };

/** Integers of up to 15 digits are exact as a number (below 2^53); longer ones become bigint. */
const EXACT_DIGITS = 15;

/**
 * JSON text to values: integers exact (a number up to 15 digits, a bigint beyond), other numbers as
 * number, objects without a prototype (so "__proto__" is a key like any other); duplicate keys,
 * nesting deeper than the limit and trailing text are refused. Iterative: no input can exhaust the stack.
 */
export function parseJsonExact(text: string, where: string): unknown {
  let i = 0;
  const stack: Frame[] = [];
  const bad = (what: string): never => fail("syntax", `${where}: ${what} at offset ${i}`);
  const space = () => {
    for (
      let c = text.charCodeAt(i);
      c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
      c = text.charCodeAt(++i)
    );
  };
  const string = (): string => {
    let j = i + 1;
    for (;;) {
      const c = text.charCodeAt(j);
      if (Number.isNaN(c)) return bad("unterminated string");
      if (c === 0x22) break;
      if (c < 0x20) return bad("control character in a string");
      j += c === 0x5c ? 2 : 1;
    }
    let s: string;
    try {
      s = JSON.parse(text.slice(i, j + 1)) as string;
    } catch {
      return bad("invalid escape in a string");
    }
    i = j + 1;
    return s;
  };
  const key = (): string => {
    space();
    if (text.charCodeAt(i) !== 0x22) bad("expected a key");
    const k = string();
    space();
    if (text.charCodeAt(i) !== 0x3a) bad("expected ':'");
    i++;
    return k;
  };
  const digitsFrom = (j: number): number => {
    let k = j;
    for (let d = text.charCodeAt(k); d >= 0x30 && d <= 0x39; d = text.charCodeAt(++k));
    return k;
  };
  // -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  const number = (): number | bigint => {
    const start = i;
    let j = text.charCodeAt(i) === 0x2d ? i + 1 : i;
    const first = text.charCodeAt(j);
    if (first === 0x30) j++;
    else if (first >= 0x31 && first <= 0x39) j = digitsFrom(j);
    else return bad(Number.isNaN(first) ? "unexpected end" : "unexpected character");
    const digits = j - start - (j > start && text.charCodeAt(start) === 0x2d ? 1 : 0);
    let integer = true;
    if (text.charCodeAt(j) === 0x2e) {
      const k = digitsFrom(j + 1);
      if (k === j + 1) return bad("expected a digit");
      [j, integer] = [k, false];
    }
    const e = text.charCodeAt(j);
    if (e === 0x65 || e === 0x45) {
      const sign = text.charCodeAt(j + 1);
      const from = sign === 0x2b || sign === 0x2d ? j + 2 : j + 1;
      const k = digitsFrom(from);
      if (k === from) return bad("expected a digit");
      [j, integer] = [k, false];
    }
    if (j - start > CLOUD_HYPERVISOR_LIMITS.numberDigits)
      fail("limit", `${where}: a number of ${j - start} characters at offset ${start}`);
    const token = text.slice(start, j);
    i = j;
    return integer && digits > EXACT_DIGITS ? BigInt(token) : Number(token);
  };
  const open = () => {
    if (stack.length >= CLOUD_HYPERVISOR_LIMITS.depth)
      fail("limit", `${where}: nested deeper than ${CLOUD_HYPERVISOR_LIMITS.depth} levels`);
  };
  for (;;) {
    space();
    let value: unknown;
    const c = text.charCodeAt(i);
    if (c === 0x7b) {
      i++;
      space();
      if (text.charCodeAt(i) === 0x7d) {
        i++;
        value = Object.create(null);
      } else {
        open();
        stack.push({ object: Object.create(null) as Record<string, unknown>, key: key() });
        continue;
      }
    } else if (c === 0x5b) {
      i++;
      space();
      if (text.charCodeAt(i) === 0x5d) {
        i++;
        value = [];
      } else {
        open();
        stack.push({ array: [] });
        continue;
      }
    } else if (c === 0x22) value = string();
    else if (text.startsWith("true", i)) [value, i] = [true, i + 4];
    else if (text.startsWith("false", i)) [value, i] = [false, i + 5];
    else if (text.startsWith("null", i)) [value, i] = [null, i + 4];
    else value = number();
    // Attach the value to its container, closing every container it completes.
    for (;;) {
      const top = stack[stack.length - 1];
      if (!top) {
        space();
        if (i !== text.length) bad("text after the JSON value");
        return value;
      }
      space();
      const d = text.charCodeAt(i++);
      if ("array" in top) {
        top.array.push(value);
        if (d === 0x2c) break; // the next element
        if (d !== 0x5d) bad("expected ',' or ']'");
        value = top.array;
      } else {
        if (Object.hasOwn(top.object, top.key)) bad(`duplicate key ${JSON.stringify(top.key.slice(0, 40))}`);
        top.object[top.key] = value;
        if (d === 0x2c) {
          top.key = key(); // the next member
          break;
        }
        if (d !== 0x7d) bad("expected ',' or '}'");
        value = top.object;
      }
      stack.pop();
    }
  }
}

// ---- the snapshot tree ----------------------------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** A member of a parsed object, own keys only (parseJsonExact's objects have no prototype anyway). */
const member = (o: Record<string, unknown>, k: string): unknown => (Object.hasOwn(o, k) ? o[k] : undefined);

/** A Snapshot node's children (vm-migration Snapshot.snapshots). */
function children(node: unknown, where: string): Record<string, unknown> {
  if (!isObject(node)) fail("schema", `${where}: not a snapshot object`);
  const snapshots = member(node, "snapshots");
  if (!isObject(snapshots)) fail("schema", `${where}.snapshots: missing or not an object`);
  return snapshots;
}

/** An unsigned integer up to `max`, from a number or a bigint, as a bigint. */
const uint = (max: bigint) =>
  z
    .union([z.number().int().nonnegative(), z.bigint()])
    .transform((v) => BigInt(v))
    .refine((v) => v >= 0n && v <= max, `expected an unsigned integer up to ${max}`);
const u32 = uint(0xffffffffn);
const u64 = uint((1n << 64n) - 1n);
const u128 = uint((1n << 128n) - 1n);

const isByte = (x: unknown): boolean => typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 255;
/** An array of byte values (serialize_bytes through serde_json), of exactly `n` when given; one check a whole array. */
const bytes = (n?: number, max = 256) =>
  z.custom<number[]>(
    (v) => Array.isArray(v) && (n === undefined ? v.length <= max : v.length === n) && v.every(isByte),
    n === undefined ? `expected at most ${max} byte values` : `expected ${n} byte values`,
  );

const KVM_REGS_BYTES = 864; // struct kvm_regs on arm64
const ExtendedRegJson = z.object({ id: u64, data: bytes() });

/** v39+: kvm-bindings structs as byte arrays; v53 adds the SVE registers. */
const BytesStateJson = z.object({
  mp_state: bytes(4),
  core_regs: bytes(KVM_REGS_BYTES),
  sys_regs: z.array(bytes(16)).max(CLOUD_HYPERVISOR_LIMITS.regsPerVcpu),
  pre_finalize_regs: z.array(ExtendedRegJson).max(CLOUD_HYPERVISOR_LIMITS.regsPerVcpu).optional(),
  extended_regs: z.array(ExtendedRegJson).max(CLOUD_HYPERVISOR_LIMITS.regsPerVcpu).optional(),
});

/** v29-v38: kvm-bindings structs with derived serde (the bindgen field names). */
const DerivedStateJson = z.object({
  mp_state: z.object({ mp_state: u32 }),
  core_regs: z.object({
    regs: z.object({ regs: z.array(u64).length(31), sp: u64, pc: u64, pstate: u64 }),
    sp_el1: u64,
    elr_el1: u64,
    spsr: z.array(u64).length(5),
    fp_regs: z.object({ vregs: z.array(u128).length(32), fpsr: u32, fpcr: u32 }),
  }),
  sys_regs: z.array(z.object({ id: u64, addr: u64 })).max(CLOUD_HYPERVISOR_LIMITS.regsPerVcpu),
});

type DerivedState = z.output<typeof DerivedStateJson>;

/** Little-endian bytes of a value at `offset` of `out`. */
function putLe(out: Uint8Array, offset: number, size: number, value: bigint): void {
  for (let k = 0; k < size; k++) out[offset + k] = Number((value >> BigInt(8 * k)) & 0xffn);
}

/** struct kvm_regs's memory from its derived form: the layout the v39+ form saves as bytes. */
function kvmRegsBytes(core: DerivedState["core_regs"]): Uint8Array {
  const out = new Uint8Array(KVM_REGS_BYTES);
  [
    ...core.regs.regs,
    core.regs.sp,
    core.regs.pc,
    core.regs.pstate,
    core.sp_el1,
    core.elr_el1,
    ...core.spsr,
  ].forEach((v, k) => putLe(out, 8 * k, 8, v));
  core.fp_regs.vregs.forEach((v, k) => putLe(out, 336 + 16 * k, 16, v));
  putLe(out, 848, 4, core.fp_regs.fpsr);
  putLe(out, 852, 4, core.fp_regs.fpcr);
  return out;
}

const leU64 = (b: readonly number[], at: number): bigint =>
  b.slice(at, at + 8).reduceRight((v, x) => (v << 8n) | BigInt(x), 0n);

/** The pieces of a VcpuKvmState every form has. */
interface VcpuState {
  core: Uint8Array;
  sysRegs: { id: bigint; value: bigint }[];
  extended: { id: bigint; data: readonly number[]; pre: boolean }[];
  /** Written by v53+ (the SVE fields, present even when empty). */
  sveFields: boolean;
}

function vcpuState(json: unknown, where: string): VcpuState {
  if (!isObject(json)) fail("schema", `${where}: a vCPU state must be an object`);
  if (Object.hasOwn(json, "Mshv")) fail("schema", `${where}: an MSHV vCPU state; guestabi reads KVM ones`);
  const kvm = member(json, "Kvm");
  if (!isObject(kvm)) fail("schema", `${where}: not {"Kvm": ...} (CpuState)`);
  // The other architectures' VcpuKvmState (kvm/x86_64/mod.rs, kvm/riscv64/mod.rs).
  if (Object.hasOwn(kvm, "sregs"))
    fail("schema", `${where}: an x86_64 vCPU state; guestabi reads aarch64 ones`);
  if (Object.hasOwn(kvm, "non_core_regs"))
    fail("schema", `${where}: a riscv64 vCPU state; guestabi reads aarch64 ones`);
  if (Array.isArray(member(kvm, "mp_state"))) {
    const r = BytesStateJson.safeParse(kvm);
    if (!r.success) fail("schema", `${where}.Kvm.${zodProblem(r.error)}`);
    const s = r.data;
    return {
      core: Uint8Array.from(s.core_regs),
      sysRegs: s.sys_regs.map((b) => ({ id: leU64(b, 0), value: leU64(b, 8) })),
      extended: [
        ...(s.pre_finalize_regs ?? []).map((x) => ({ ...x, pre: true })),
        ...(s.extended_regs ?? []).map((x) => ({ ...x, pre: false })),
      ],
      sveFields: s.pre_finalize_regs !== undefined || s.extended_regs !== undefined,
    };
  }
  const r = DerivedStateJson.safeParse(kvm);
  if (!r.success) fail("schema", `${where}.Kvm.${zodProblem(r.error)}`);
  return {
    core: kvmRegsBytes(r.data.core_regs),
    sysRegs: r.data.sys_regs.map((x) => ({ id: x.id, value: x.addr })),
    extended: [],
    sveFields: false,
  };
}

/** A leaf's state JSON text, from either SnapshotData wrapper. */
function stateText(node: unknown, where: string): { text: string; era: "bytes" | "string" } {
  if (!isObject(node)) fail("schema", `${where}: not a snapshot object`);
  const data = member(node, "snapshot_data");
  if (Array.isArray(data)) {
    // v29-v38: the JSON text's bytes, one number each.
    const raw = new Uint8Array(data.length);
    data.forEach((b, k) => {
      if (!isByte(b)) fail("schema", `${where}.snapshot_data[${k}]: not a byte value`);
      raw[k] = b as number;
    });
    try {
      return { text: new TextDecoder("utf-8", { fatal: true }).decode(raw), era: "bytes" };
    } catch {
      return fail("syntax", `${where}.snapshot_data: the bytes are not UTF-8`);
    }
  }
  if (isObject(data)) {
    const text = member(data, "state");
    if (typeof text !== "string") fail("schema", `${where}.snapshot_data.state: missing or not a string`);
    return { text, era: "string" };
  }
  return fail("schema", `${where}.snapshot_data: missing (a vCPU snapshot carries its state)`);
}

const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);

function readVcpu(id: number, state: VcpuState, notes: Set<string>, where: string): VcpuSnapshot {
  const bad = (message: string): never => fail("register", `${where}: ${message}`);
  const regs = new Map<RegId, RegValue>();
  const sve = state.extended.some((x) => coprocOf(x.id) === COPROC.sve);
  for (const r of CORE_REGS) {
    // v53 with SVE: the V registers are SVE's, and fpsr/fpcr are not saved (get_fpsimd_regs).
    if (sve && r.offset >= 0x54) continue;
    const regId = makeId(r.size, COPROC.core, r.offset);
    const size = regSizeBytes(regId);
    addRegister(
      regs,
      regId,
      regValueFromBytes(regId, state.core.subarray(r.offset * 4, r.offset * 4 + size)),
      bad,
    );
  }
  if (sve)
    notes.add("with SVE, Cloud Hypervisor saves neither fpsr nor fpcr (KvmVcpu::state): they are left out");
  state.sysRegs.forEach(({ id: regId, value }, k) => {
    const why = malformedReason(regId);
    if (why) bad(`sys_regs[${k}]: malformed id ${formatId(regId)}: ${why}`);
    const size = regSizeBytes(regId);
    if (coprocOf(regId) === COPROC.core)
      bad(`sys_regs[${k}]: ${formatId(regId)} is a core register (saved in core_regs)`);
    if (size !== 4 && size !== 8)
      bad(`sys_regs[${k}]: ${formatId(regId)} is ${size * 8}-bit; sys_regs hold U32 and U64 registers`);
    // KVM_SET_ONE_REG reads KVM_REG_SIZE(id) bytes of the u64: a U32 register is its low half.
    addRegister(regs, regId, size === 4 ? value & 0xffffffffn : value, bad);
  });
  state.extended.forEach(({ id: regId, data, pre }, k) => {
    const at = `${pre ? "pre_finalize_regs" : "extended_regs"}[${k}]`;
    const why = malformedReason(regId);
    if (why) bad(`${at}: malformed id ${formatId(regId)}: ${why}`);
    if (pre && regId !== SVE_VLS_ID) bad(`${at}: ${formatId(regId)} is not KVM_REG_ARM64_SVE_VLS`);
    const size = regSizeBytes(regId);
    if (data.length !== size) bad(`${at}: ${formatId(regId)} needs ${size} bytes, has ${data.length}`);
    addRegister(regs, regId, regValueFromBytes(regId, Uint8Array.from(data)), bad);
  });
  const features = [
    VCPU_FEATURES.PSCI_0_2,
    ...(id > 0 ? [VCPU_FEATURES.POWER_OFF] : []),
    ...(regs.has(PMCR_EL0) ? [VCPU_FEATURES.PMU_V3] : []),
    ...(sve ? [VCPU_FEATURES.SVE] : []),
  ];
  return vmmVcpu(id, ARM_TARGETS.GENERIC_V8, features, regs, [], bad);
}

const VCPU_ID = /^(0|[1-9]\d{0,9})$/;

/** The snapshot in a Cloud Hypervisor state.json (aarch64, KVM). Every problem is a one-line SnapshotFormatError. */
export function readCloudHypervisorState(input: string | Uint8Array): VmmSnapshotRead {
  if (input.length > CLOUD_HYPERVISOR_LIMITS.fileBytes)
    fail("limit", `${input.length} bytes (limit ${CLOUD_HYPERVISOR_LIMITS.fileBytes})`);
  let text: string;
  if (typeof input === "string") text = input;
  else
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(input);
    } catch {
      return fail("syntax", "not UTF-8");
    }
  const root = parseJsonExact(text, "state.json");
  const cpuManager = member(children(root, "state.json"), "cpu-manager");
  if (cpuManager === undefined) fail("schema", "no cpu-manager snapshot: not a Cloud Hypervisor VM state");
  const vcpuNodes = children(cpuManager, "cpu-manager");
  const ids = Object.keys(vcpuNodes);
  if (ids.length === 0) fail("schema", "cpu-manager has no vCPU snapshots");
  if (ids.length > CLOUD_HYPERVISOR_LIMITS.vcpus)
    fail("limit", `${ids.length} vCPU snapshots (limit ${CLOUD_HYPERVISOR_LIMITS.vcpus})`);
  const notes = new Set<string>();
  const eras = new Set<string>();
  const vcpus = ids
    .map((key) => {
      const where = `cpu-manager.snapshots.${JSON.stringify(key.slice(0, 24))}`;
      if (!VCPU_ID.test(key) || Number(key) > 0xffffffff) fail("schema", `${where}: not a vCPU id`);
      const { text: stateJson, era } = stateText(vcpuNodes[key], where);
      const state = vcpuState(parseJsonExact(stateJson, `${where} state`), `${where} state`);
      eras.add(era === "bytes" ? "v29-v38" : state.sveFields ? "v53 and later" : "v39-v52");
      return readVcpu(Number(key), state, notes, where);
    })
    .sort((a, b) => a.id - b.id);
  if (eras.size > 1)
    fail("invalid", `vCPU states in the forms of different releases (${[...eras].join(", ")})`);
  const snapshot: Snapshot = {
    source: { ...UNKNOWN_SOURCE },
    note: `Cloud Hypervisor ${[...eras][0]} snapshot, ${vcpus.length} vCPUs`,
    // create_vm (hypervisor/src/kvm/mod.rs) uses the destination's IPA limit: nothing to pin.
    vm: { ipaBits: 0, caps: [], attrs: [] },
    vcpus,
  };
  validateSnapshot(snapshot);
  return {
    snapshot,
    format: `${KIND} (Cloud Hypervisor ${[...eras][0]})`,
    notes: [
      "kvm_vcpu_init is not saved: the features are those Cloud Hypervisor's restore requests (Vcpu::init): PSCI 0.2, POWER_OFF past vCPU 0, PMU_V3 where the PMU's registers were saved (PMCR_EL0), SVE where its registers were; the target is the destination's preferred one, taken as GENERIC_V8",
      ...notes,
      "the host the snapshot was taken on is not recorded (source: unknown)",
      "the VM's IPA size is the destination's limit (create_vm): none is pinned",
      "the GIC's state (device-manager) is not read: no machine pins",
    ],
  };
}

/** Whether bytes start like a state.json Cloud Hypervisor writes: {"snapshots":{"cpu-manager":... */
export function looksLikeCloudHypervisorState(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 256)).toString("latin1");
  return /^\s*\{\s*"snapshots"\s*:\s*\{\s*"cpu-manager"\s*:/.test(head);
}

// ---- restore rules ------------------------------------------------------------------------------

/** KvmVcpu::set_state's first failing KVM_SET_ONE_REG, as CpuManager::create_vcpu reports it. */
const SET_STATE_ERROR =
  "Error creating vCPU: Could not set the vCPU state SetSysRegister({errno}) (KVM_SET_ONE_REG of {reg}, {id})";

const neverRequested = (feature: number) => ({
  feature,
  error: "Cloud Hypervisor's vCPUs never have {reg}: its restore initialises them without it",
  rule: "vcpu_set_processor_features (hypervisor/src/kvm/mod.rs; Vcpu::init in vmm/src/cpu.rs before v45)",
});

/**
 * Cloud Hypervisor's restore (v30.0-v53.0, the same rules throughout): every register KVM_GET_REG_LIST
 * listed on the source is saved and written back with KVM_SET_ONE_REG, the first refusal ends the
 * restore; a register the destination does not list is such a refusal (ENOENT).
 */
export const CLOUD_HYPERVISOR_POLICY: RestorePolicy = {
  id: "cloud-hypervisor",
  label: "Cloud Hypervisor",
  source:
    "github.com/cloud-hypervisor/cloud-hypervisor v30.0-v53.0: hypervisor/src/kvm/mod.rs (KvmVcpu::state, set_state, vcpu_set_processor_features), hypervisor/src/kvm/aarch64/mod.rs (is_system_register), vmm/src/cpu.rs (CpuManager::create_vcpu)",
  // KvmVcpu::state: core registers through kvm_regs, every other listed register in sys_regs (SVE's
  // in extended_regs from v53; with SVE, v43-v52 cannot snapshot at all: is_system_register panics).
  unsaved: [],
  missing: {
    action: "abort",
    error: SET_STATE_ERROR,
    rule: "KvmVcpu::set_state (hypervisor/src/kvm/mod.rs): sys_regs written back in saved order, no list of registers to skip",
  },
  refused: {
    error: SET_STATE_ERROR,
    rule: "KvmVcpu::set_state (hypervisor/src/kvm/mod.rs): the first KVM_SET_ONE_REG error ends the restore",
  },
  // Never enables KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (no use of the capability in the tree).
  writableImpIdRegs: false,
  // KvmVcpu::state lists the registers in KVM_GET_REG_LIST order; set_state writes them in that order.
  writeOrder: "saved",
  // vcpu_set_processor_features requests PSCI_0_2, PMU_V3 and SVE (where the host has them) and POWER_OFF.
  refusedFeatures: [
    VCPU_FEATURES.EL1_32BIT,
    VCPU_FEATURES.PTRAUTH_ADDRESS,
    VCPU_FEATURES.PTRAUTH_GENERIC,
    VCPU_FEATURES.HAS_EL2,
    VCPU_FEATURES.HAS_EL2_E2H0,
  ].map(neverRequested),
};
