/**
 * struct kvm_run (include/uapi/linux/kvm.h), the area mmap()ed from a vCPU fd, for arm64 (no s390
 * psw fields). Offsets were checked with offsetof() against the 5.10, 6.1, 6.12 and 7.2 headers; they
 * are identical in all four:
 *
 *   0   __u8  request_interrupt_window       8   __u32 exit_reason
 *   1   __u8  immediate_exit                12   __u8  ready_for_interrupt_injection, 13 if_flag
 *   2   __u8  padding1[6]                   14   __u16 flags
 *   16  __u64 cr8                           24   __u64 apic_base
 *   32  union (256 bytes, 8-aligned) of the per-exit structs:
 *         hw           { u64 hardware_exit_reason @32 }
 *         fail_entry   { u64 hardware_entry_failure_reason @32; u32 cpu @40 }
 *         debug.arch   { u32 hsr @32; u32 hsr_high @36; u64 far @40 }
 *         mmio         { u64 phys_addr @32; u8 data[8] @40; u32 len @48; u8 is_write @52 }
 *         hypercall    { u64 nr @32; u64 args[6] @40; u64 ret @88; u64 flags @96 (u32 longmode before 6.4) }
 *         internal     { u32 suberror @32; u32 ndata @36; u64 data[16] @40 }
 *         system_event { u32 type @32; u32 ndata @36; u64 data[16] @40 }   (5.10: u32 type; u64 flags @40,
 *                        ndata is padding that KVM zeroes: memset() in kvm_prepare_system_event)
 *         arm_nisv     { u64 esr_iss @32; u64 fault_ipa @40 }   (also KVM_EXIT_ARM_LDST64B)
 *         memory_fault { u64 flags @32; u64 gpa @40; u64 size @48 }   (6.8+)
 *         arm_sea      { u64 flags @32; u64 esr @40; u64 gva @48; u64 gpa @56 }   (7.x)
 *   288 __u64 kvm_valid_regs   296 __u64 kvm_dirty_regs   304 union s (2048 bytes)   size 2352
 *
 * KVM_GET_VCPU_MMAP_SIZE may be larger (more pages follow: coalesced MMIO ring, dirty ring).
 */
import type { KvmExit, OtherExit } from "../types.js";
import { EXIT_REASONS, exitReasonName, systemEventName } from "../uapi.js";

export const KVM_RUN_LAYOUT = {
  immediateExit: 1,
  exitReason: 8,
  union: 32,
  mmio: { physAddr: 32, data: 40, len: 48, isWrite: 52 },
  hypercall: { nr: 32, args: 40, ret: 88, flags: 96 },
  systemEvent: { type: 32, ndata: 36, data: 40 },
  armNisv: { esrIss: 32, faultIpa: 40 },
  internal: { suberror: 32, ndata: 36, data: 40 },
  failEntry: { reason: 32, cpu: 40 },
  hw: { reason: 32 },
  debug: { hsr: 32, hsrHigh: 36, far: 40 },
  memoryFault: { flags: 32, gpa: 40, size: 48 },
  armSea: { flags: 32, esr: 40, gva: 48, gpa: 56 },
  validRegs: 288,
  dirtyRegs: 296,
  s: 304,
  size: 2352,
} as const;

const LE = true;
const MAX_DATA = 16;

function u64s(v: DataView, off: number, n: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < n; i++) out.push(v.getBigUint64(off + 8 * i, LE));
  return out;
}

/** Decodes the exit KVM_RUN left in a kvm_run area. `v` must cover at least KVM_RUN_LAYOUT.size bytes. */
export function decodeKvmRunExit(v: DataView): KvmExit {
  const L = KVM_RUN_LAYOUT;
  const code = v.getUint32(L.exitReason, LE);
  switch (code) {
    case EXIT_REASONS.MMIO: {
      const len = v.getUint32(L.mmio.len, LE);
      const isWrite = v.getUint8(L.mmio.isWrite) !== 0;
      const n = Math.min(len, 8);
      const data = new Uint8Array(n);
      if (isWrite) for (let i = 0; i < n; i++) data[i] = v.getUint8(L.mmio.data + i);
      return {
        reason: "MMIO",
        code,
        address: v.getBigUint64(L.mmio.physAddr, LE),
        isWrite,
        length: len,
        data,
      };
    }
    case EXIT_REASONS.HYPERCALL: {
      const nr = v.getBigUint64(L.hypercall.nr, LE);
      const flags = v.getBigUint64(L.hypercall.flags, LE);
      return {
        reason: "HYPERCALL",
        code,
        nr,
        functionId: Number(nr & 0xffff_ffffn),
        conduit: flags & 1n ? "smc" : "hvc",
        is16bit: (flags & 2n) !== 0n,
        flags,
        args: u64s(v, L.hypercall.args, 6),
        ret: v.getBigUint64(L.hypercall.ret, LE),
      };
    }
    case EXIT_REASONS.SYSTEM_EVENT: {
      const type = v.getUint32(L.systemEvent.type, LE);
      const ndata = Math.min(v.getUint32(L.systemEvent.ndata, LE), MAX_DATA);
      const data = u64s(v, L.systemEvent.data, Math.max(ndata, 1));
      return {
        reason: "SYSTEM_EVENT",
        code,
        type,
        event: systemEventName(type) ?? "UNRECOGNIZED",
        data,
        flags: data[0]!,
      };
    }
    case EXIT_REASONS.ARM_NISV:
    case EXIT_REASONS.ARM_LDST64B:
      return {
        reason: code === EXIT_REASONS.ARM_NISV ? "ARM_NISV" : "ARM_LDST64B",
        code,
        esrIss: v.getBigUint64(L.armNisv.esrIss, LE),
        faultIpa: v.getBigUint64(L.armNisv.faultIpa, LE),
      };
    case EXIT_REASONS.INTERNAL_ERROR: {
      const ndata = Math.min(v.getUint32(L.internal.ndata, LE), MAX_DATA);
      return {
        reason: "INTERNAL_ERROR",
        code,
        suberror: v.getUint32(L.internal.suberror, LE),
        data: u64s(v, L.internal.data, ndata),
      };
    }
    case EXIT_REASONS.FAIL_ENTRY:
      return {
        reason: "FAIL_ENTRY",
        code,
        hardwareEntryFailureReason: v.getBigUint64(L.failEntry.reason, LE),
        cpu: v.getUint32(L.failEntry.cpu, LE),
      };
    case EXIT_REASONS.UNKNOWN:
      return { reason: "UNKNOWN", code, hardwareExitReason: v.getBigUint64(L.hw.reason, LE) };
    case EXIT_REASONS.DEBUG:
      return {
        reason: "DEBUG",
        code,
        hsr: v.getUint32(L.debug.hsr, LE),
        hsrHigh: v.getUint32(L.debug.hsrHigh, LE),
        far: v.getBigUint64(L.debug.far, LE),
      };
    case EXIT_REASONS.MEMORY_FAULT:
      return {
        reason: "MEMORY_FAULT",
        code,
        flags: v.getBigUint64(L.memoryFault.flags, LE),
        gpa: v.getBigUint64(L.memoryFault.gpa, LE),
        size: v.getBigUint64(L.memoryFault.size, LE),
      };
    case EXIT_REASONS.ARM_SEA:
      return {
        reason: "ARM_SEA",
        code,
        flags: v.getBigUint64(L.armSea.flags, LE),
        esr: v.getBigUint64(L.armSea.esr, LE),
        gva: v.getBigUint64(L.armSea.gva, LE),
        gpa: v.getBigUint64(L.armSea.gpa, LE),
      };
    default: {
      // The exits handled above never reach here, so the name is one of OtherExit's.
      return { reason: (exitReasonName(code) ?? "UNRECOGNIZED") as OtherExit["reason"], code };
    }
  }
}

/** Puts the data of a pending MMIO read into kvm_run.mmio.data (KVM copies `len` bytes on the next run). */
export function writeMmioReadData(v: DataView, data: Uint8Array): void {
  if (data.length > 8) throw new RangeError(`MMIO data is at most 8 bytes, got ${data.length}`);
  for (let i = 0; i < 8; i++) v.setUint8(KVM_RUN_LAYOUT.mmio.data + i, data[i] ?? 0);
}
