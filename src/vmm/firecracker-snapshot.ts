/**
 * Reading a Firecracker snapshot state file (aarch64) of the bincode era: snapshot format versions
 * 1.0.0 to 8.0.0, written by Firecracker v1.7 to v1.14. Facts from Firecracker's source at its release
 * tags (github.com/firecracker-microvm/firecracker), cited per field below.
 *
 * The file (src/vmm/src/snapshot/mod.rs):
 *   magic     u64 LE: 0x0710_1984_AAAA_0000 on aarch64 (0x0710_1984_8664_0000 on x86_64)
 *   version   the snapshot format version, a semver string: u64 LE length + UTF-8 ("8.0.0")
 *   state     MicrovmState (src/vmm/src/persist.rs), serialised by bincode with fixed-width
 *             little-endian integers: u64 lengths before sequences, strings and byte blobs; a u8 tag
 *             (0/1) before an Option; a u32 variant index for an enum; bool as a u8 0/1; structs and
 *             fixed arrays as their fields in order (bincode 1.x in v1.7-v1.11, bincode 2 with
 *             config::standard().with_fixed_int_encoding() in v1.12-v1.14: the same bytes)
 *   crc       u64 LE: CRC-64 (the crc64 crate: Jones polynomial, reflected, no final xor) of everything
 *             before it, so the CRC over the whole file is 0 (snapshot/crc.rs, Snapshot::load)
 *
 * The reader checks the magic, the version and the CRC, then walks MicrovmState up to the end of
 * vcpu_states: everything before the vCPUs is bounded and skipped (VmInfo, guest memory regions, KVM
 * capability modifiers, the GIC's register chunks, the ITS, the resource allocator's interval trees),
 * the vCPUs are converted. What follows the vCPUs (device states) is covered by the CRC and not read.
 *
 * Per format version (MicrovmState up to vcpu_states; struct definitions at the tag named):
 *   1.0.0 v1.7       vm_info, memory_state{regions[base,size,offset]}, vm_state{gic, kvm_cap_modifiers},
 *                    vcpu_states; kvm-bindings structs (kvm_mp_state, kvm_vcpu_init) derive serde
 *                    (Firecracker's fork v0.7.0-2), and VcpuState.kvi is an Option
 *   2.0.0 v1.8       the same; kvm-bindings 0.8 serialises its structs as byte blobs (serde_impls!:
 *   3.0.0 v1.9, v1.10.0      serialize_bytes of the struct's memory), VcpuState.kvi is no longer an
 *   4.0.0 v1.10.1            Option (vstate/vcpu/aarch64.rs)
 *   5.0.0 v1.11      memory regions lose `offset` (vstate/memory.rs); kvm_state{kvm_cap_modifiers}
 *                    follows memory_state (vstate/kvm.rs); vm_state is {gic} (vstate/vm/aarch64.rs)
 *   6.0.0 v1.12      memory moves into vm_state{memory, gic} (arch/aarch64/vm.rs)
 *   7.0.0 (none)     only on main between v1.12 and v1.13 (PVTime, commit 828fa09a5): never released
 *   8.0.0 v1.13      GicState gains its_state (gic/regs.rs, its_regs.rs), vm_state gains
 *                    resource_allocator (vstate/resources.rs: 2 IdAllocators, 3 AddressAllocators of
 *                    vm-allocator 0.1.3), VcpuState gains pvtime_ipa: Option<u64> (arch/aarch64/vcpu.rs)
 *   8.0.0 v1.14      the same version string, but memory regions gain region_type and plugged
 *                    (vstate/memory.rs) and the allocator a fourth AddressAllocator, past_mmio64_memory:
 *                    the reader tries v1.14's layout, then v1.13's
 *   9.0.0+ v1.15-    bitcode (snapshot/mod.rs at v1.15.0): a columnar encoding of the whole Snapshot
 *                    struct whose layout follows every Rust type; not readable, detected by its CRC
 *   Firecracker v1.6 and earlier wrote the Versionize format (src/snapshot/src/lib.rs at v1.6.0): the
 *   magic's low 16 bits carry its format version; detected, not readable.
 *
 * A vCPU (VcpuState): mp_state, regs (Aarch64RegisterVec, arch/aarch64/regs.rs: (Vec<u64> ids,
 * Vec<u8> data), every register of KVM_GET_REG_LIST with its KVM_REG_SIZE(id) bytes back to back:
 * get_all_registers), mpidr, kvi (kvm_vcpu_init: target + features[7]), [pvtime_ipa]. It becomes
 * guestabi's vCPU snapshot with id = its index (Firecracker creates vCPU i with KVM id i), init = kvi,
 * and the stolen-time IPA as a KVM_ARM_VCPU_PVTIME_CTRL attribute (enable_pvtime).
 */
import { formatId, malformedReason } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import {
  ARM_TARGETS,
  VCPU_ATTR,
  VCPU_FEATURES,
  attrU64,
  featureBitsOf,
  regSizeBytes,
  regValueFromBytes,
} from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { SNAPSHOT_LIMITS, validateSnapshot } from "../formats/snapshot.js";
import type { DeviceAttr, SnapshotErrorCode, VcpuSnapshot } from "../formats/snapshot.js";
import { UNKNOWN_SOURCE, addRegister, vmmFileError, vmmVcpu } from "./vmm-snapshot.js";
import type { VmmSnapshotRead } from "./vmm-snapshot.js";

const KIND = "Firecracker snapshot";

/** SNAPSHOT_MAGIC_ID (snapshot/mod.rs) per architecture. */
export const FIRECRACKER_MAGIC = { aarch64: 0x0710_1984_aaaa_0000n, x86_64: 0x0710_1984_8664_0000n } as const;
/** Versionize-era magics carry a format version in their low 16 bits (BASE_MAGIC_ID_MASK). */
const VERSION_BITS = 0xffffn;

/** Bounds a reader enforces before believing any count. */
export const FIRECRACKER_SNAPSHOT_LIMITS = {
  /** Firecracker itself refuses state beyond 10 MiB (DESERIALIZATION_BYTES_LIMIT, snapshot/mod.rs). */
  fileBytes: 16 << 20,
  /** Firecracker runs at most 32 (MAX_SUPPORTED_VCPUS, vmm_config/machine_config.rs). */
  vcpus: 256,
  regsPerVcpu: SNAPSHOT_LIMITS.regsPerVcpu,
  /** Paths, the kernel command line, a capability number: far below this. */
  stringBytes: 64 << 10,
  /** KVM structs serialised as byte blobs (kvm_vcpu_init is 32 bytes, kvm_mp_state 4). */
  blobBytes: 4096,
  /** The resource allocator's interval trees are AVL trees: a depth of 64 holds 2^44 nodes. */
  treeDepth: 64,
} as const;

/** What differs between bincode-era format versions, up to the end of vcpu_states. */
interface BincodeLayout {
  /** The Firecracker releases that write it. */
  releases: string;
  /** GuestMemoryRegionState after base_address and size: offset (<= 4.0.0), nothing, or type + plugged. */
  region: "offset" | "none" | "type-plugged";
  /** GuestMemoryState in MicrovmState (<= 5.0.0) or first in VmState (6.0.0+). */
  memory: "microvm" | "vm";
  /** KvmCapability strings: after the GIC in VmState (<= 4.0.0) or in KvmState after the memory. */
  caps: "vm" | "kvm";
  /** GicState.its_state (8.0.0). */
  its: boolean;
  /** ResourceAllocator: its AddressAllocators after two IdAllocators (0: no allocator). */
  addressAllocators: number;
  /** kvm-bindings serde: derived (fields inline) or serialize_bytes (u64 length + the struct's bytes). */
  kvmStructs: "derive" | "bytes";
  /** VcpuState.kvi: Option<kvm_vcpu_init> in v1.7. */
  kviOptional: boolean;
  /** VcpuState.pvtime_ipa: Option<u64> (8.0.0). */
  pvtime: boolean;
}

const V1_7: BincodeLayout = {
  releases: "v1.7",
  region: "offset",
  memory: "microvm",
  caps: "vm",
  its: false,
  addressAllocators: 0,
  kvmStructs: "derive",
  kviOptional: true,
  pvtime: false,
};
const V1_8: BincodeLayout = { ...V1_7, releases: "v1.8", kvmStructs: "bytes", kviOptional: false };
const V1_11: BincodeLayout = { ...V1_8, releases: "v1.11", region: "none", caps: "kvm" };
const V1_12: BincodeLayout = { ...V1_11, releases: "v1.12", memory: "vm" };
const V1_13: BincodeLayout = { ...V1_12, releases: "v1.13", its: true, addressAllocators: 3, pvtime: true };
const V1_14: BincodeLayout = { ...V1_13, releases: "v1.14", region: "type-plugged", addressAllocators: 4 };

/** The layouts of each major format version, the most likely first (SNAPSHOT_VERSION, persist.rs). */
const LAYOUTS: ReadonlyMap<number, readonly BincodeLayout[]> = new Map([
  [1, [V1_7]],
  [2, [V1_8]],
  [3, [{ ...V1_8, releases: "v1.9, v1.10.0" }]],
  [4, [{ ...V1_8, releases: "v1.10.1" }]],
  [5, [V1_11]],
  [6, [V1_12]],
  [8, [V1_14, V1_13]],
]);

/** Every layout this reader knows, by format version (for tests and the fuzz seeds). */
export const FIRECRACKER_FORMATS: readonly { version: number; releases: string }[] = [...LAYOUTS].flatMap(
  ([version, layouts]) => layouts.map((l) => ({ version, releases: l.releases })),
);

// ---- CRC-64 -------------------------------------------------------------------------------------

/** The crc64 crate's table (Jones polynomial 0xad93d23594c935a9, reflected: 0x95ac9329ac4bc9b5), as u32 halves. */
const CRC_TABLE = (() => {
  const hi = new Uint32Array(256);
  const lo = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let h = 0;
    let l = i;
    for (let k = 0; k < 8; k++) {
      const carry = l & 1;
      l = ((l >>> 1) | ((h & 1) << 31)) >>> 0;
      h = h >>> 1;
      if (carry) {
        h = (h ^ 0x95ac9329) >>> 0;
        l = (l ^ 0xac4bc9b5) >>> 0;
      }
    }
    hi[i] = h;
    lo[i] = l;
  }
  return { hi, lo };
})();

/** crc64::crc64(crc, data) as Firecracker's CRC64Writer uses it (snapshot/crc.rs). */
export function firecrackerCrc64(data: Uint8Array, crc = 0n): bigint {
  let h = Number(crc >> 32n) >>> 0;
  let l = Number(crc & 0xffffffffn) >>> 0;
  for (let i = 0; i < data.length; i++) {
    const t = (l ^ data[i]!) & 0xff;
    l = ((l >>> 8) | ((h & 0xff) << 24)) >>> 0;
    h = h >>> 8;
    h = (h ^ CRC_TABLE.hi[t]!) >>> 0;
    l = (l ^ CRC_TABLE.lo[t]!) >>> 0;
  }
  return (BigInt(h) << 32n) | BigInt(l);
}

// ---- bincode ------------------------------------------------------------------------------------

function fail(code: SnapshotErrorCode, message: string): never {
  throw vmmFileError(KIND, code, message);
}

/** A cursor over bincode bytes that never reads past `end` and checks every count against what is left. */
class Bincode {
  private readonly dv: DataView;
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
  }
  get left(): number {
    return this.end - this.pos;
  }
  private need(n: number, what: string): void {
    if (n > this.left) fail("truncated", `truncated: ${what} needs ${n} bytes, ${this.left} left`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.bytes[this.pos++]!;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }
  bool(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) fail("section", `${what}: bool byte ${v} is not 0 or 1`);
    return v === 1;
  }
  /** Option<T>'s tag: whether a value follows. */
  some(what: string): boolean {
    const v = this.u8(what);
    if (v > 1) fail("section", `${what}: Option tag ${v} is not 0 or 1`);
    return v === 1;
  }
  /** A unit enum's u32 variant index, below `variants`. */
  variant(what: string, variants: number): number {
    const v = this.u32(what);
    if (v >= variants) fail("section", `${what}: variant ${v} does not exist (${variants} variants)`);
    return v;
  }
  /** A sequence length, believed only when `limit` allows it and its elements fit in what is left. */
  count(what: string, elementBytes: number, limit: number): number {
    const n = this.u64(`${what} length`);
    if (n > BigInt(limit)) fail("limit", `${what}: ${n} elements (limit ${limit})`);
    const count = Number(n);
    this.need(count * elementBytes, `${what} (${count} elements)`);
    return count;
  }
  take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  /** A String: u64 length + UTF-8 (bincode refuses invalid UTF-8). */
  string(what: string, limit: number = FIRECRACKER_SNAPSHOT_LIMITS.stringBytes): string {
    const n = this.count(what, 1, limit);
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(this.take(n, what));
    } catch {
      return fail("section", `${what}: not UTF-8`);
    }
  }
  /** A Vec<T> of fixed-size elements, skipped. */
  skipVec(what: string, elementBytes: number, limit: number): number {
    const n = this.count(what, elementBytes, limit);
    this.pos += n * elementBytes;
    return n;
  }
}

/** A struct of kvm-bindings: inline fields (derive) or serialize_bytes (zero-padded or cut to its size). */
function kvmStruct(r: Bincode, layout: BincodeLayout, size: number, what: string): Uint8Array {
  if (layout.kvmStructs === "derive") return r.take(size, what);
  const n = r.count(what, 1, FIRECRACKER_SNAPSHOT_LIMITS.blobBytes);
  // serde_impls! (kvm-bindings serialize.rs): shorter blobs are zero-padded, longer ones cut.
  const out = new Uint8Array(size);
  out.set(r.take(n, what).subarray(0, size));
  return out;
}

// ---- MicrovmState up to vcpu_states ----------------------------------------------------------------

/** What the snapshot's VM notes: from VmInfo (persist.rs). */
interface VmInfo {
  memMib: bigint;
  cpuTemplate: "V1N1" | "None";
}

function readVmInfo(r: Bincode): VmInfo {
  const memMib = r.u64("vm_info.mem_size_mib");
  r.bool("vm_info.smt");
  // StaticCpuTemplate (cpu_config/aarch64/static_cpu_templates/mod.rs): V1N1, None.
  const cpuTemplate = r.variant("vm_info.cpu_template", 2) === 0 ? "V1N1" : "None";
  // BootSourceConfig (vmm_config/boot_source.rs): kernel_image_path, initrd_path?, boot_args?
  r.string("vm_info.boot_source.kernel_image_path");
  if (r.some("vm_info.boot_source.initrd_path")) r.string("vm_info.boot_source.initrd_path");
  if (r.some("vm_info.boot_source.boot_args")) r.string("vm_info.boot_source.boot_args");
  // HugePageConfig (vmm_config/machine_config.rs): None, Hugetlbfs2M.
  r.variant("vm_info.huge_pages", 2);
  return { memMib, cpuTemplate };
}

const MAX_ITEMS = 1 << 20;

function skipMemory(r: Bincode, layout: BincodeLayout, where: string): void {
  const regions = r.count(`${where}.regions`, 16, MAX_ITEMS);
  for (let i = 0; i < regions; i++) {
    const at = `${where}.regions[${i}]`;
    r.u64(`${at}.base_address`);
    r.u64(`${at}.size`);
    if (layout.region === "offset") r.u64(`${at}.offset`);
    if (layout.region === "type-plugged") {
      r.variant(`${at}.region_type`, 2); // GuestRegionType: Dram, Hotpluggable
      const what = `${at}.plugged`;
      const plugged = r.count(what, 1, MAX_ITEMS);
      for (let k = 0; k < plugged; k++) r.bool(what);
    }
  }
}

/** Vec<KvmCapability>: each a string, "170" or "!170" (cpu_config/templates.rs). */
function skipCaps(r: Bincode, where: string): void {
  const n = r.count(where, 8, MAX_ITEMS);
  for (let i = 0; i < n; i++) {
    const s = r.string(`${where}[${i}]`);
    if (!/^!?\d{1,10}$/.test(s))
      fail("section", `${where}[${i}]: '${s.slice(0, 20)}' is not a KVM capability`);
  }
}

/** Vec<GicRegState<T>>: each { chunks: Vec<T> } (arch/aarch64/gic/regs.rs). */
function skipRegChunks(r: Bincode, where: string, chunkBytes: number): void {
  const n = r.count(where, 8, MAX_ITEMS);
  const chunks = `${where}[].chunks`;
  for (let i = 0; i < n; i++) r.skipVec(chunks, chunkBytes, MAX_ITEMS);
}

/** GicState (gic/regs.rs): the distributor, one interface per vCPU, [the ITS]. Returns the vCPU count. */
function skipGic(r: Bincode, layout: BincodeLayout): number {
  skipRegChunks(r, "vm_state.gic.dist", 4);
  const vcpus = r.count("vm_state.gic.gic_vcpu_states", 8 + 8 + 8, FIRECRACKER_SNAPSHOT_LIMITS.vcpus);
  for (let v = 0; v < vcpus; v++) {
    const at = `vm_state.gic.gic_vcpu_states[${v}]`;
    skipRegChunks(r, `${at}.rdist`, 4);
    skipRegChunks(r, `${at}.icc.main_icc_regs`, 8);
    const apWhat = `${at}.icc.ap_icc_regs`;
    const ap = r.count(apWhat, 1, MAX_ITEMS);
    for (let i = 0; i < ap; i++) if (r.some(apWhat)) r.skipVec(apWhat, 8, MAX_ITEMS);
  }
  // ItsRegisterState (gicv3/regs/its_regs.rs): iidr, cbaser, creadr, cwriter, baser[8], ctlr.
  if (layout.its && r.some("vm_state.gic.its_state")) r.take(13 * 8, "vm_state.gic.its_state");
  return vcpus;
}

/** vm-allocator 0.1.3 IdAllocator: range_base u32, next_id Option<u32>, range_end u32, freed_ids BTreeSet<u32>. */
function skipIdAllocator(r: Bincode, where: string): void {
  r.u32(`${where}.range_base`);
  if (r.some(`${where}.next_id`)) r.u32(`${where}.next_id`);
  r.u32(`${where}.range_end`);
  r.skipVec(`${where}.freed_ids`, 4, MAX_ITEMS);
}

/**
 * An Option<Box<InnerNode>> of an interval tree (allocation_engine/interval_tree.rs): key (start, end),
 * node_state, left, right, height. `where` names the tree (one string for all its nodes).
 */
function skipTreeNode(r: Bincode, where: string, depth: number): void {
  if (!r.some(where)) return;
  if (depth > FIRECRACKER_SNAPSHOT_LIMITS.treeDepth)
    fail("limit", `${where}: deeper than ${FIRECRACKER_SNAPSHOT_LIMITS.treeDepth} nodes`);
  r.take(16, where); // key: RangeInclusive { start, end }
  r.variant(where, 2); // NodeState: Free, Allocated
  skipTreeNode(r, where, depth + 1);
  skipTreeNode(r, where, depth + 1);
  r.u64(where); // height
}

/** ResourceAllocator (vstate/resources.rs): two IdAllocators, then AddressAllocators {range, tree}. */
function skipResourceAllocator(r: Bincode, addressAllocators: number): void {
  skipIdAllocator(r, "vm_state.resource_allocator.gsi_legacy_allocator");
  skipIdAllocator(r, "vm_state.resource_allocator.gsi_msi_allocator");
  for (let i = 0; i < addressAllocators; i++) {
    const at = `vm_state.resource_allocator.address_allocator[${i}]`;
    r.u64(`${at}.address_space.start`);
    r.u64(`${at}.address_space.end`);
    skipTreeNode(r, `${at}.interval_tree`, 1);
  }
}

// ---- vCPUs --------------------------------------------------------------------------------------

const KVM_MP_STATE_BYTES = 4;
const KVM_VCPU_INIT_BYTES = 32; // target u32 + features[7] u32

function readVcpu(r: Bincode, layout: BincodeLayout, index: number, notes: Set<string>): VcpuSnapshot {
  const at = `vcpu_states[${index}]`;
  const bad = (message: string): never => fail("register", `${at}: ${message}`);
  kvmStruct(r, layout, KVM_MP_STATE_BYTES, `${at}.mp_state`);
  // Aarch64RegisterVec: (Vec<u64> ids, Vec<u8> data), each value KVM_REG_SIZE(id) bytes (regs.rs).
  const ids = r.count(`${at}.regs.ids`, 8, FIRECRACKER_SNAPSHOT_LIMITS.regsPerVcpu);
  const list: RegId[] = [];
  let dataBytes = 0;
  const idsWhat = `${at}.regs.ids`;
  for (let i = 0; i < ids; i++) {
    const id = r.u64(idsWhat);
    const why = malformedReason(id);
    if (why) bad(`register ${i} has malformed id ${formatId(id)}: ${why}`);
    list.push(id);
    dataBytes += regSizeBytes(id); // at most 256: KVM_REG_SIZE of a well-formed id
  }
  const data = r.count(`${at}.regs.data`, 1, FIRECRACKER_SNAPSHOT_LIMITS.regsPerVcpu * 256);
  // Aarch64RegisterVec::deserialize refuses data whose length is not the sum of the sizes.
  if (data !== dataBytes)
    bad(`register data is ${data} bytes, the ${ids} registers' sizes add up to ${dataBytes}`);
  const values = r.take(data, `${at}.regs.data`);
  const regs = new Map<RegId, RegValue>();
  let off = 0;
  for (const id of list) {
    const size = regSizeBytes(id);
    addRegister(regs, id, regValueFromBytes(id, values.subarray(off, off + size)), bad);
    off += size;
  }
  r.u64(`${at}.mpidr`);
  let target: number = ARM_TARGETS.GENERIC_V8;
  let features: number[];
  const hasKvi = !layout.kviOptional || r.some(`${at}.kvi`);
  if (hasKvi) {
    const kvi = kvmStruct(r, layout, KVM_VCPU_INIT_BYTES, `${at}.kvi`);
    const dv = new DataView(kvi.buffer, kvi.byteOffset, kvi.byteLength);
    target = dv.getUint32(0, true);
    features = featureBitsOf(Array.from({ length: 7 }, (_, w) => dv.getUint32(4 + 4 * w, true)));
  } else {
    // v1.7 keeps no kvi without a template's vcpu_features; the restore uses default_kvi
    // (vstate/vcpu/aarch64.rs): the destination's preferred target, PSCI 0.2, POWER_OFF past vCPU 0.
    features = [VCPU_FEATURES.PSCI_0_2, ...(index > 0 ? [VCPU_FEATURES.POWER_OFF] : [])];
    notes.add(
      "kvm_vcpu_init not saved (v1.7 without template vcpu_features): Firecracker's default_kvi is assumed, " +
        "PSCI 0.2 (+ POWER_OFF past vCPU 0) and the destination's preferred target, taken as GENERIC_V8",
    );
  }
  const attrs: DeviceAttr[] = [];
  if (layout.pvtime && r.some(`${at}.pvtime_ipa`)) {
    // enable_pvtime (arch/aarch64/vcpu.rs): KVM_ARM_VCPU_PVTIME_CTRL / KVM_ARM_VCPU_PVTIME_IPA.
    attrs.push({
      group: VCPU_ATTR.PVTIME_CTRL.group,
      attr: VCPU_ATTR.PVTIME_CTRL.IPA,
      data: attrU64(r.u64(`${at}.pvtime_ipa`)),
    });
  }
  return vmmVcpu(index, target, features, regs, attrs, bad);
}

function readState(bytes: Uint8Array, start: number, end: number, layout: BincodeLayout, version: string) {
  const r = new Bincode(bytes, start, end);
  const notes = new Set<string>();
  const info = readVmInfo(r);
  if (layout.memory === "microvm") skipMemory(r, layout, "memory_state");
  if (layout.caps === "kvm") skipCaps(r, "kvm_state.kvm_cap_modifiers");
  if (layout.memory === "vm") skipMemory(r, layout, "vm_state.memory");
  const gicVcpus = skipGic(r, layout);
  if (layout.caps === "vm") skipCaps(r, "vm_state.kvm_cap_modifiers");
  if (layout.addressAllocators > 0) skipResourceAllocator(r, layout.addressAllocators);
  // A VcpuState is at least its regs' two lengths and the mpidr.
  const n = r.count("vcpu_states", 24, FIRECRACKER_SNAPSHOT_LIMITS.vcpus);
  // GICv3::save_device writes one interface per vCPU MPIDR: a different count is another layout.
  if (n !== gicVcpus)
    fail("section", `vcpu_states has ${n} vCPUs, the GIC state ${gicVcpus} vCPU interfaces`);
  if (n === 0) fail("section", "vcpu_states is empty");
  const vcpus = Array.from({ length: n }, (_, i) => readVcpu(r, layout, i, notes));
  const snapshot = {
    source: { ...UNKNOWN_SOURCE },
    note: `Firecracker ${layout.releases} snapshot (format ${version}), ${info.memMib} MiB, CPU template ${info.cpuTemplate}`,
    // Firecracker creates the VM with type 0 (vstate/vm.rs Vm::new: create_vm): KVM's default IPA size.
    vm: { ipaBits: 0, caps: [], attrs: [] },
    vcpus,
  };
  validateSnapshot(snapshot);
  notes.add("the host the snapshot was taken on is not recorded (source: unknown)");
  notes.add("the GIC's saved registers are skipped: no machine pins (GICD_IIDR is not saved)");
  return {
    snapshot,
    format: `${KIND} format ${version} (Firecracker ${layout.releases})`,
    notes: [...notes],
  };
}

// ---- the file -----------------------------------------------------------------------------------

const VERSION_TEXT_LIMIT = 64;

/** Whether bytes end with Firecracker's CRC-64 of everything before them (the whole file's CRC is 0). */
function crcTrailerMatches(bytes: Uint8Array): boolean {
  return (
    bytes.length > 8 &&
    bytes.length <= FIRECRACKER_SNAPSHOT_LIMITS.fileBytes &&
    firecrackerCrc64(bytes) === 0n
  );
}

function magicOf(bytes: Uint8Array): bigint | undefined {
  if (bytes.length < 8) return undefined;
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
}

/**
 * Whether bytes are a Firecracker snapshot state file of any era or architecture: a bincode or
 * Versionize magic, or (bitcode, v1.15+, which has no magic at offset 0) a matching CRC-64 trailer.
 * readFirecrackerSnapshot reads the aarch64 bincode ones and names the others in its error.
 */
export function looksLikeFirecrackerSnapshot(bytes: Uint8Array): boolean {
  const magic = magicOf(bytes);
  if (magic === undefined) return false;
  const base = magic & ~VERSION_BITS;
  return base === FIRECRACKER_MAGIC.aarch64 || base === FIRECRACKER_MAGIC.x86_64 || crcTrailerMatches(bytes);
}

/** The snapshot in a Firecracker state file (aarch64, v1.7-v1.14). Every problem is a one-line SnapshotFormatError. */
export function readFirecrackerSnapshot(bytes: Uint8Array): VmmSnapshotRead {
  if (bytes.length > FIRECRACKER_SNAPSHOT_LIMITS.fileBytes)
    fail("limit", `${bytes.length} bytes (limit ${FIRECRACKER_SNAPSHOT_LIMITS.fileBytes})`);
  const magic = magicOf(bytes);
  if (magic === undefined) fail("truncated", `truncated: ${bytes.length} bytes, the magic alone is 8`);
  const base = magic & ~VERSION_BITS;
  if (base === FIRECRACKER_MAGIC.x86_64)
    fail("magic", "an x86_64 Firecracker snapshot: guestabi reads aarch64 ones");
  if (base === FIRECRACKER_MAGIC.aarch64 && magic !== base)
    fail(
      "version",
      `Versionize format ${magic & VERSION_BITS} (Firecracker v1.6 and earlier): not readable, guestabi reads the bincode formats of v1.7-v1.14`,
    );
  if (magic !== FIRECRACKER_MAGIC.aarch64) {
    if (crcTrailerMatches(bytes))
      fail(
        "version",
        "the bitcode format of Firecracker v1.15 and later (snapshot version 9.0.0+): its columnar layout follows every Rust state type and is not self-describing, so it is not readable; guestabi reads v1.7-v1.14 snapshots",
      );
    fail("magic", `not a Firecracker snapshot (magic ${formatId(magic)})`);
  }
  const head = new Bincode(bytes, 8, bytes.length);
  const version = head.string("version", VERSION_TEXT_LIMIT);
  const m = /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})$/.exec(version);
  if (!m) fail("version", `version '${version}' is not MAJOR.MINOR.PATCH`);
  const major = Number(m[1]);
  if (bytes.length - head.pos < 8) fail("truncated", "truncated: no room for the CRC-64 after the version");
  if (firecrackerCrc64(bytes) !== 0n) fail("checksum", "CRC-64 mismatch: the snapshot is corrupt");
  if (major === 7)
    fail(
      "version",
      "format 7.0.0 was never in a Firecracker release (only on main before v1.13): not readable",
    );
  if (major >= 9)
    fail(
      "version",
      `format ${version} is bitcode (Firecracker v1.15 and later): not readable, guestabi reads formats 1.0.0-8.0.0 (v1.7-v1.14)`,
    );
  const layouts = LAYOUTS.get(major);
  if (!layouts)
    fail("version", `format ${version} is unknown (guestabi reads 1.0.0-8.0.0: Firecracker v1.7-v1.14)`);
  // Snapshot::load (snapshot/mod.rs) takes the file's major and a minor up to its own, which is 0.
  if (m[2] !== "0") fail("version", `format ${version}: no Firecracker release writes minor ${m[2]}`);
  let first: unknown;
  for (const layout of layouts) {
    try {
      return readState(bytes, head.pos, bytes.length - 8, layout, version);
    } catch (e) {
      first ??= e;
    }
  }
  throw first;
}
