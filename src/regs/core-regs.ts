/**
 * The core registers: struct kvm_regs of arch/arm64/include/uapi/asm/kvm.h, described as data. A core
 * register's id carries its offset into that struct in 32-bit words (KVM_REG_ARM_CORE_REG(name) =
 * offsetof(struct kvm_regs, name) / sizeof(__u32)), and KVM accepts exactly one size per field
 * (core_reg_size_from_offset in arch/arm64/kvm/guest.c).
 */
import type { RegSize } from "./id.js";
import { sizeBytes } from "./id.js";

interface StructMember {
  /** Path as KVM_REG_ARM_CORE_REG names it, e.g. "regs.regs" or "fp_regs.vregs". */
  path: string;
  /** Short name used by guestabi, e.g. "x" (x0..x30), "vregs" (vregs[0..31]). */
  short: string;
  count?: number;
  size: RegSize;
  /** Alignment in bytes of this member, when larger than its size (the fp_regs struct is 16-aligned). */
  align?: number;
}

// struct kvm_regs { struct user_pt_regs regs; __u64 sp_el1; __u64 elr_el1; __u64 spsr[KVM_NR_SPSR];
//                   struct user_fpsimd_state fp_regs; }  with KVM_NR_SPSR = 5 and
// struct user_pt_regs { __u64 regs[31]; __u64 sp; __u64 pc; __u64 pstate; }
// struct user_fpsimd_state { __uint128_t vregs[32]; __u32 fpsr; __u32 fpcr; __u32 __reserved[2]; }
const KVM_REGS_LAYOUT: readonly StructMember[] = [
  { path: "regs.regs", short: "x", count: 31, size: "U64" },
  { path: "regs.sp", short: "sp", size: "U64" },
  { path: "regs.pc", short: "pc", size: "U64" },
  { path: "regs.pstate", short: "pstate", size: "U64" },
  { path: "sp_el1", short: "sp_el1", size: "U64" },
  { path: "elr_el1", short: "elr_el1", size: "U64" },
  { path: "spsr", short: "spsr", count: 5, size: "U64" },
  { path: "fp_regs.vregs", short: "vregs", count: 32, size: "U128", align: 16 },
  { path: "fp_regs.fpsr", short: "fpsr", size: "U32" },
  { path: "fp_regs.fpcr", short: "fpcr", size: "U32" },
];

export interface CoreReg {
  /** guestabi's name: x0..x30, sp, pc, pstate, sp_el1, elr_el1, spsr[0..4], vregs[0..31], fpsr, fpcr. */
  name: string;
  /** The name in the kernel's terms: KVM_REG_ARM_CORE_REG(regs.regs[0]). */
  kernelName: string;
  /** Offset in 32-bit words, as carried in the id. */
  offset: number;
  size: RegSize;
}

function layoutCoreRegs(): CoreReg[] {
  const out: CoreReg[] = [];
  let byteOffset = 0;
  for (const m of KVM_REGS_LAYOUT) {
    const bytes = sizeBytes(m.size);
    const align = m.align ?? bytes;
    byteOffset = Math.ceil(byteOffset / align) * align;
    const count = m.count ?? 1;
    for (let i = 0; i < count; i++) {
      const indexed = m.count !== undefined;
      const name = !indexed ? m.short : m.short === "x" ? `x${i}` : `${m.short}[${i}]`;
      const kernelName = `KVM_REG_ARM_CORE_REG(${m.path}${indexed ? `[${i}]` : ""})`;
      out.push({ name, kernelName, offset: byteOffset / 4, size: m.size });
      byteOffset += bytes;
    }
  }
  return out;
}

export const CORE_REGS: readonly CoreReg[] = layoutCoreRegs();

const byOffset = new Map(CORE_REGS.map((r) => [r.offset, r]));
const byShortName = new Map(CORE_REGS.map((r) => [r.name, r]));
const byPath = new Map(CORE_REGS.map((r) => [r.kernelName.slice("KVM_REG_ARM_CORE_REG(".length, -1), r]));

export function coreRegByOffset(offset: number): CoreReg | undefined {
  return byOffset.get(offset);
}

/**
 * Looks up x3, pc, vregs[5] (exact case: SP_EL1 and ELR_EL1 in capitals are the system registers) or
 * KVM_REG_ARM_CORE_REG(regs.pc); with ignoreCase, also PC, X3.
 */
export function coreRegByName(name: string, ignoreCase = false): CoreReg | undefined {
  const compact = name.replace(/\s+/g, "");
  const macro = /^KVM_REG_ARM_CORE_REG\((.+)\)$/i.exec(compact);
  if (macro) return byPath.get(macro[1]!);
  return byShortName.get(ignoreCase ? compact.toLowerCase() : compact);
}
