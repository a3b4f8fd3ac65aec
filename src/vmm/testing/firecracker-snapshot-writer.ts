/**
 * A test-only writer of Firecracker snapshot state files (aarch64, bincode era), written from the Rust
 * type definitions at each release tag of github.com/firecracker-microvm/firecracker, independently of
 * the reader's layout table: Firecracker's repository holds no aarch64 state file to test on (its tests
 * create snapshots at run time), so the reader's tests and fuzz seeds are files made here.
 *
 * Sources per release (paths at the tag): src/vmm/src/snapshot/mod.rs (header, CRC), persist.rs
 * (MicrovmState, VmInfo), vmm_config/boot_source.rs, vmm_config/machine_config.rs (HugePageConfig),
 * cpu_config/aarch64/static_cpu_templates/mod.rs, vstate/memory.rs (GuestMemoryState), vstate/kvm.rs
 * (KvmState), vstate/vm.rs or vstate/vm/aarch64.rs or arch/aarch64/vm.rs (VmState),
 * arch/aarch64/gic/regs.rs (GicState), gic/gicv3/regs/its_regs.rs (ItsRegisterState),
 * vstate/resources.rs (ResourceAllocator; vm-allocator 0.1.3 for its parts), vstate/vcpu/aarch64.rs or
 * arch/aarch64/vcpu.rs (VcpuState), arch/aarch64/regs.rs (Aarch64RegisterVec).
 */
import type { RegId } from "../../regs/index.js";
import { featureWords, regValueToBytes } from "../../kvm/index.js";
import type { RegValue } from "../../kvm/index.js";
import { firecrackerCrc64 } from "../firecracker-snapshot.js";

/** The releases whose layouts differ up to vcpu_states, with the format version each writes. */
export const FIRECRACKER_RELEASES = {
  "v1.7": "1.0.0",
  "v1.8": "2.0.0",
  "v1.10.0": "3.0.0",
  "v1.10.1": "4.0.0",
  "v1.11": "5.0.0",
  "v1.12": "6.0.0",
  "v1.13": "8.0.0",
  "v1.14": "8.0.0",
} as const;
export type FirecrackerRelease = keyof typeof FIRECRACKER_RELEASES;

export interface FirecrackerVcpuModel {
  /** Registers in the order KVM_GET_REG_LIST gave them. */
  regs: [RegId, RegValue][];
  mpidr: bigint;
  mpState?: number;
  /** kvm_vcpu_init; undefined: v1.7's `kvi: None` (no template vcpu_features). */
  kvi?: { target: number; features: number[] };
  /** v1.13+: the stolen-time region. */
  pvtimeIpa?: bigint;
  /** A corrupt file: the register data blob this many bytes shorter than the registers' sizes. */
  dataShortBy?: number;
}

export interface FirecrackerSnapshotModel {
  memMib: bigint;
  /** StaticCpuTemplate: 0 V1N1, 1 None. */
  cpuTemplate?: 0 | 1;
  bootArgs?: string;
  caps?: string[];
  /** The ITS (v1.13+). */
  its?: boolean;
  vcpus: FirecrackerVcpuModel[];
  /** Bytes standing for the device states that follow the vCPUs (covered by the CRC, never read). */
  devices?: Uint8Array;
  /** A corrupt file: this many GIC vCPU interfaces instead of one per vCPU. */
  gicVcpus?: number;
}

/** bincode with fixed-width little-endian integers. */
class Writer {
  private readonly parts: number[] = [];
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: bigint | number): this {
    let x = BigInt(v);
    for (let i = 0; i < 8; i++) {
      this.parts.push(Number(x & 0xffn));
      x >>= 8n;
    }
    return this;
  }
  raw(b: Uint8Array): this {
    for (const x of b) this.parts.push(x);
    return this;
  }
  /** A String or a serialize_bytes blob: u64 length + bytes. */
  blob(b: Uint8Array): this {
    return this.u64(b.length).raw(b);
  }
  str(s: string): this {
    return this.blob(new TextEncoder().encode(s));
  }
  none(): this {
    return this.u8(0);
  }
  some(): this {
    return this.u8(1);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

const u32Bytes = (values: number[]): Uint8Array => {
  const w = new Writer();
  for (const v of values) w.u32(v);
  return w.bytes();
};

/** Vec<GicRegState<u32 or u64>>: chunks of made-up register values. */
function regChunks(w: Writer, chunks: number[][], wide: boolean): void {
  w.u64(chunks.length);
  for (const c of chunks) {
    w.u64(c.length);
    for (const v of c) {
      if (wide) w.u64(v);
      else w.u32(v);
    }
  }
}

/** An AddressAllocator of vm-allocator 0.1.3: the managed range and an interval tree of three nodes. */
function addressAllocator(w: Writer, start: bigint, end: bigint): void {
  w.u64(start).u64(end);
  const node = (s: bigint, e: bigint, allocated: boolean, children: (() => void)[], height: number) => {
    w.some()
      .u64(s)
      .u64(e)
      .u32(allocated ? 1 : 0);
    for (const child of children) child();
    w.u64(height);
  };
  const mid = start + (end - start) / 2n;
  node(
    start,
    end,
    false,
    [() => node(start, mid, true, [() => w.none(), () => w.none()], 1), () => w.none()],
    2,
  );
}

function idAllocator(w: Writer, base: number, end: number, freed: number[]): void {
  w.u32(base)
    .some()
    .u32(base + 2)
    .u32(end)
    .u64(freed.length);
  for (const f of freed) w.u32(f);
}

/** A Firecracker state file as `release` writes it (aarch64). */
export function writeFirecrackerSnapshot(
  model: FirecrackerSnapshotModel,
  release: FirecrackerRelease,
): Uint8Array {
  const at = (r: FirecrackerRelease) => Object.keys(FIRECRACKER_RELEASES).indexOf(r);
  const since = (r: FirecrackerRelease) => at(release) >= at(r);
  const derive = release === "v1.7"; // Firecracker's kvm-bindings fork derived serde; 0.8+ writes bytes
  const w = new Writer();
  w.u64(0x0710_1984_aaaa_0000n).str(FIRECRACKER_RELEASES[release]);

  // VmInfo
  w.u64(model.memMib)
    .u8(0)
    .u32(model.cpuTemplate ?? 1);
  w.str("/srv/vmlinux").none();
  if (model.bootArgs === undefined) w.none();
  else w.some().str(model.bootArgs);
  w.u32(0); // HugePageConfig::None

  const memory = () => {
    const regions = [{ base: 0x8000_0000n, size: model.memMib << 20n }];
    w.u64(regions.length);
    for (const r of regions) {
      w.u64(r.base).u64(r.size);
      if (!since("v1.11")) w.u64(0n); // offset
      if (since("v1.14")) w.u32(0).u64(3).u8(1).u8(1).u8(0); // Dram, plugged [true, true, false]
    }
  };
  const caps = () => {
    const list = model.caps ?? [];
    w.u64(list.length);
    for (const c of list) w.str(c);
  };
  if (!since("v1.12")) memory();
  if (since("v1.11")) caps(); // KvmState
  if (since("v1.12")) memory(); // VmState.memory
  // GicState
  regChunks(
    w,
    [
      [0x10, 0],
      [1, 2, 3],
    ],
    false,
  );
  const gicVcpus = model.gicVcpus ?? model.vcpus.length;
  w.u64(gicVcpus);
  Array.from({ length: gicVcpus }).forEach((_, i) => {
    regChunks(w, [[i, 0x40]], false); // rdist
    regChunks(w, [[0x1f, 0xf0]], true); // main_icc_regs
    w.u64(4).some().u64(1).u64(7).none().some().u64(0).none(); // ap_icc_regs
  });
  if (since("v1.13")) {
    if (model.its ?? true) {
      w.some();
      for (let i = 0; i < 13; i++) w.u64(0x4300_0000n + BigInt(i));
    } else w.none();
  }
  if (!since("v1.11")) caps(); // VmState.kvm_cap_modifiers
  if (since("v1.13")) {
    idAllocator(w, 32, 95, [40]);
    idAllocator(w, 96, 1023, []);
    addressAllocator(w, 0x4000_0000n, 0x7fff_ffffn);
    addressAllocator(w, 0x40_0000_0000n, 0x7f_ffff_ffffn);
    if (since("v1.14")) addressAllocator(w, 0x80_0000_0000n, 0xff_ffff_ffffn);
    addressAllocator(w, 0x0n, 0x3fff_ffffn);
  }

  // vcpu_states
  w.u64(model.vcpus.length);
  for (const v of model.vcpus) {
    const mp = u32Bytes([v.mpState ?? 0]);
    if (derive) w.raw(mp);
    else w.blob(mp);
    w.u64(v.regs.length);
    for (const [id] of v.regs) w.u64(id);
    const data = v.regs.flatMap(([id, value]) => [...regValueToBytes(id, value)]);
    w.blob(Uint8Array.from(data.slice(0, data.length - (v.dataShortBy ?? 0))));
    w.u64(v.mpidr);
    if (v.kvi === undefined && !derive) throw new Error(`${release} always saves kvi`);
    const kvi = v.kvi && u32Bytes([v.kvi.target, ...featureWords(v.kvi.features)]);
    if (derive) {
      if (kvi) w.some().raw(kvi);
      else w.none();
    } else w.blob(kvi!);
    if (since("v1.13")) {
      if (v.pvtimeIpa === undefined) w.none();
      else w.some().u64(v.pvtimeIpa);
    }
  }
  w.raw(model.devices ?? Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0));
  return withCrc(w.bytes());
}

/** `body` followed by its CRC-64, as Snapshot::save writes it. */
export function withCrc(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + 8);
  out.set(body);
  new DataView(out.buffer).setBigUint64(body.length, firecrackerCrc64(body), true);
  return out;
}
