/**
 * The guest probe program: a few hundred hand-assembled A64 words that show what a guest sees of
 * KVM's firmware interface (SMCCC/PSCI/TRNG/PV-time/vendor-hypervisor calls), of the ID registers, and
 * (load items) of device registers such as the vGIC's, read through MMIO as a guest driver reads them.
 *
 * It runs at EL1 with the MMU off from the start of one RAM slot (what KVM_ARM_VCPU_INIT gives without
 * EL1_32BIT/HAS_EL2: EL1h, DAIF masked, SCTLR_EL1.M = 0), and reports through stores to guest-physical
 * addresses no slot backs, so each store is a KVM_EXIT_MMIO write the host records:
 *
 *   MMIO_BASE + 0x000          DONE: DONE_MAGIC after the last item (the fallback end marker)
 *   MMIO_BASE + 0x008..0x020   exception record: ESR_EL1, ELR_EL1, FAR_EL1, then the vector index
 *                              (0..15; the last store closes the record)
 *   MMIO_BASE + 0x100 + 32*i   results of item i: x0, x1, x2, x3 at +0, +8, +16, +24 (a sysreg or
 *                              load item stores only x0)
 *
 * A load item reads its own address, which must lie outside the program's RAM and outside this
 * window (PROBE_MMIO_WINDOW bytes from MMIO_BASE), so the host tells its accesses from the protocol's:
 * an in-kernel device there (the vGIC) completes the load inside KVM_RUN and the guest stores the value;
 * where the VM has no device the load is a KVM_EXIT_MMIO read, which the host answers with zeros and
 * records, and decodeProbe reports the item as "unhandled".
 *
 * Layout in the slot: entry at 0 (sets VBAR_EL1, loads the MMIO base, branches to main), vectors at
 * 0x800 (VBAR_EL1 needs 2 KiB alignment; each of the 16 entries records its index in x28 and branches
 * to the common handler at 0x1000), main from 0x1100. The handler stores ESR/ELR/FAR/index, advances
 * ELR_EL1 by 4 and returns, so an UNDEF (an unimplemented system register, a refused SMC) skips the
 * instruction instead of hanging. Every call, MRS and load is followed by a NOP, so that skip lands
 * safely whether ELR pointed at the faulting instruction or past it (an external abort on a load
 * points at the load). After the items: PSCI SYSTEM_OFF (an
 * ordinary, terminal item: KVM exits with SYSTEM_EVENT SHUTDOWN), then the DONE store, then `b .`:
 * the host must stop at DONE (running again would spin in the guest for ever).
 *
 * Registers: x0..x3 carry calls and results (a load item builds its address in x1 and loads into
 * x0); x26 holds MMIO_BASE in main; the handler uses only x25, x27, x28 (main never does). All stores
 * are 64-bit `str Xt, [Xn, #imm]` and loads `ldr Wt|Xt, [Xn]` (no writeback: ISV valid).
 */
import {
  ERET,
  ISB,
  NOP,
  SYSREGS,
  addImm,
  b,
  hvc,
  ldrImm,
  ldrWImm,
  movImm64,
  movz,
  mrs,
  msr,
  smc,
  strImm,
  wordsToBytes,
} from "./a64.js";
import type { SysregEncoding } from "./a64.js";
import {
  KVM_PTP_PHYS_COUNTER,
  KVM_PTP_VIRT_COUNTER,
  KVM_VENDOR_FN,
  PSCI_FN,
  PV_TIME_FN,
  SMCCC_ARCH,
  TRNG_FN,
  functionName,
} from "./smccc.js";

export type Conduit = "hvc" | "smc";

/** One SMCCC call: x0 = function id, x1..x3 = args (missing ones 0); the guest records x0..x3 after. */
export interface GuestCall {
  kind: "call";
  name: string;
  conduit: Conduit;
  functionId: number;
  args: readonly bigint[];
  /** The results change from run to run (KVM_PTP's time and counter): compare only their presence. */
  timeVarying?: boolean;
  /** A call that normally ends the run (PSCI SYSTEM_OFF): the host sees an exit instead of results. */
  terminal?: boolean;
}

/** One MRS of a system register into x0, recorded. */
export interface GuestSysregRead {
  kind: "sysreg";
  name: string;
  encoding: SysregEncoding;
}

/**
 * One load from a guest-physical address into x0, recorded: 4 bytes (`ldr w0`, zero-extended) or 8
 * (`ldr x0`). The address is naturally aligned (with the MMU off data accesses are Device memory, where
 * an unaligned access faults) and outside the program's RAM and MMIO window.
 */
export interface GuestLoad {
  kind: "load";
  name: string;
  address: bigint;
  size: 4 | 8;
}

export type GuestItem = GuestCall | GuestSysregRead | GuestLoad;

export const PROBE_RAM_BASE = 0x4000_0000n;
/** 64 KiB: a multiple of every arm64 page size (4K, 16K, 64K). */
export const PROBE_RAM_SIZE = 0x1_0000;
export const PROBE_MMIO_BASE = 0x1000_0000n;
export const MMIO_OFFSETS = {
  DONE: 0x000,
  EXC_ESR: 0x008,
  EXC_ELR: 0x010,
  EXC_FAR: 0x018,
  EXC_VECTOR: 0x020,
  RESULTS: 0x100,
  RESULT_STRIDE: 0x20,
} as const;
/** Bytes from MMIO_BASE the protocol may store to: the largest `str` immediate (32760) + 8. */
export const PROBE_MMIO_WINDOW = 0x8000;
/** "guestabi" in ASCII, stored at DONE. */
export const DONE_MAGIC = 0x6775_6573_7461_6269n;

const VECTORS_AT = 0x800;
const HANDLER_AT = 0x1000;
const MAIN_AT = 0x1100;
/** Largest `str` immediate (32760) bounds the item count: 0x100 + 32 * i + 24 <= 32760. */
export const MAX_PROBE_ITEMS =
  Math.floor((4095 * 8 - MMIO_OFFSETS.RESULTS - 24) / MMIO_OFFSETS.RESULT_STRIDE) + 1;

const X_MMIO = 26;
const X_SCRATCH = 25;
const X_HANDLER_BASE = 27;
const X_VECTOR = 28;
const X_LOAD_ADDRESS = 1;

export interface ProgramItem {
  index: number;
  item: GuestItem;
  /** Guest-physical address range [start, end) of the item's code; exceptions are attributed by ELR. */
  pc: { start: bigint; end: bigint };
  /** Guest-physical address of result register k: resultAddress + 8 * k. */
  resultAddress: bigint;
  /** 4 for a call (x0..x3), 1 for a sysreg read or a load. */
  resultCount: number;
}

export interface ProbeProgram {
  ramBase: bigint;
  ramSize: number;
  mmioBase: bigint;
  /** Guest-physical address of the first instruction (= ramBase): set PC there. */
  entry: bigint;
  /** The slot's initial contents (instructions, little-endian; the rest of the slot is zero). */
  bytes: Uint8Array;
  words: Uint32Array;
  items: ProgramItem[];
  /** Guest-physical address range of the vector table. */
  vectors: { start: bigint; end: bigint };
}

export interface ProgramOptions {
  ramBase?: bigint;
  mmioBase?: bigint;
}

/** Assembles the probe program for a list of items. */
export function buildProbeProgram(items: readonly GuestItem[], opts: ProgramOptions = {}): ProbeProgram {
  const ramBase = opts.ramBase ?? PROBE_RAM_BASE;
  const mmioBase = opts.mmioBase ?? PROBE_MMIO_BASE;
  if (ramBase % 0x1_0000n !== 0n) throw new RangeError("ramBase must be 64 KiB aligned");
  if (items.length > MAX_PROBE_ITEMS)
    throw new RangeError(`at most ${MAX_PROBE_ITEMS} items, got ${items.length}`);
  for (const item of items) if (item.kind === "load") checkLoadAddress(item, ramBase, mmioBase);
  const words: number[] = [];
  const at = () => words.length * 4;
  const emit = (...w: number[]) => words.push(...w);
  const padTo = (offset: number) => {
    if (at() > offset) throw new RangeError(`probe program section overflows into 0x${offset.toString(16)}`);
    while (at() < offset) emit(0);
  };
  const branchTo = (target: number) => emit(b(target - at()));

  // entry
  emit(...movImm64(0, ramBase + BigInt(VECTORS_AT)), msr(SYSREGS.VBAR_EL1, 0), ISB);
  emit(...movImm64(X_MMIO, mmioBase));
  branchTo(MAIN_AT);

  // vectors: 16 entries of 0x80 bytes (current EL SP0/SPx, lower EL A64/A32 x sync/IRQ/FIQ/SError)
  for (let i = 0; i < 16; i++) {
    padTo(VECTORS_AT + 0x80 * i);
    emit(movz(X_VECTOR, i));
    branchTo(HANDLER_AT);
  }

  // common exception handler
  padTo(HANDLER_AT);
  emit(...movImm64(X_HANDLER_BASE, mmioBase));
  emit(mrs(X_SCRATCH, SYSREGS.ESR_EL1), strImm(X_SCRATCH, X_HANDLER_BASE, MMIO_OFFSETS.EXC_ESR));
  emit(mrs(X_SCRATCH, SYSREGS.ELR_EL1), strImm(X_SCRATCH, X_HANDLER_BASE, MMIO_OFFSETS.EXC_ELR));
  emit(mrs(X_SCRATCH, SYSREGS.FAR_EL1), strImm(X_SCRATCH, X_HANDLER_BASE, MMIO_OFFSETS.EXC_FAR));
  emit(strImm(X_VECTOR, X_HANDLER_BASE, MMIO_OFFSETS.EXC_VECTOR));
  emit(
    mrs(X_SCRATCH, SYSREGS.ELR_EL1),
    addImm(X_SCRATCH, X_SCRATCH, 4),
    msr(SYSREGS.ELR_EL1, X_SCRATCH),
    ERET,
  );

  // main
  padTo(MAIN_AT);
  const placed: ProgramItem[] = [];
  items.forEach((item, index) => {
    const start = at();
    const results = MMIO_OFFSETS.RESULTS + MMIO_OFFSETS.RESULT_STRIDE * index;
    let resultCount: number;
    if (item.kind === "call") {
      if (item.args.length > 3) throw new RangeError(`${item.name}: at most 3 arguments (x1..x3)`);
      emit(...movImm64(0, BigInt(item.functionId >>> 0)));
      for (let r = 1; r <= 3; r++) emit(...movImm64(r, item.args[r - 1] ?? 0n));
      emit(item.conduit === "hvc" ? hvc(0) : smc(0), NOP);
      for (let r = 0; r < 4; r++) emit(strImm(r, X_MMIO, results + 8 * r));
      resultCount = 4;
    } else if (item.kind === "sysreg") {
      emit(movz(0, 0), mrs(0, item.encoding), NOP, strImm(0, X_MMIO, results));
      resultCount = 1;
    } else {
      const load = item.size === 4 ? ldrWImm(0, X_LOAD_ADDRESS) : ldrImm(0, X_LOAD_ADDRESS);
      emit(movz(0, 0), ...movImm64(X_LOAD_ADDRESS, item.address), load, NOP);
      emit(strImm(0, X_MMIO, results));
      resultCount = 1;
    }
    placed.push({
      index,
      item,
      pc: { start: ramBase + BigInt(start), end: ramBase + BigInt(at()) },
      resultAddress: mmioBase + BigInt(results),
      resultCount,
    });
  });
  emit(...movImm64(0, DONE_MAGIC), strImm(0, X_MMIO, MMIO_OFFSETS.DONE));
  emit(b(0));
  if (at() > PROBE_RAM_SIZE)
    throw new RangeError(`probe program is ${at()} bytes, more than the ${PROBE_RAM_SIZE}-byte slot`);

  return {
    ramBase,
    ramSize: PROBE_RAM_SIZE,
    mmioBase,
    entry: ramBase,
    bytes: wordsToBytes(words),
    words: Uint32Array.from(words),
    items: placed,
    vectors: { start: ramBase + BigInt(VECTORS_AT), end: ramBase + BigInt(VECTORS_AT + 0x800) },
  };
}

function checkLoadAddress(item: GuestLoad, ramBase: bigint, mmioBase: bigint): void {
  const { name, address, size } = item;
  const end = address + BigInt(size);
  const overlaps = (base: bigint, bytes: number) => address < base + BigInt(bytes) && end > base;
  if (address < 0n || end > 1n << 64n || address % BigInt(size) !== 0n)
    throw new RangeError(`${name}: load address 0x${address.toString(16)} is not a ${size}-byte aligned GPA`);
  if (overlaps(ramBase, PROBE_RAM_SIZE) || overlaps(mmioBase, PROBE_MMIO_WINDOW))
    throw new RangeError(
      `${name}: load address 0x${address.toString(16)} lies in the probe program's own RAM or MMIO window`,
    );
}

// ---- the default item lists -------------------------------------------------------------------

const call = (functionId: number, args: bigint[] = [], extra: Partial<GuestCall> = {}): GuestCall => ({
  kind: "call",
  name: functionName(functionId) + (args.length ? `(${args.map((a) => nameOfArg(a)).join(", ")})` : ""),
  conduit: "hvc",
  functionId,
  args,
  ...extra,
});
const nameOfArg = (a: bigint) => (a > 0xffffn ? functionName(Number(a)) : a.toString());

/** Every PSCI 0.2/1.x function id, 32-bit then 64-bit variants (those that exist). */
export const PSCI_FUNCTIONS: readonly number[] = Object.values(PSCI_FN);

/**
 * The default call list: PSCI_VERSION, PSCI_FEATURES of every PSCI function (and of SMCCC_VERSION,
 * which is how Linux discovers SMCCC 1.1), MIGRATE_INFO_TYPE, SMCCC_VERSION, SMCCC_ARCH_FEATURES of the
 * workarounds/SOC_ID/PV-time, TRNG_VERSION/FEATURES/GET_UUID, PV-time FEATURES, the KVM vendor UID and
 * feature bitmap, KVM_PTP (time-varying), DISCOVER_IMPL_VER, the same two version calls through SMC,
 * and finally PSCI SYSTEM_OFF (terminal). Only side-effect-free calls besides the last one.
 */
export function defaultCallList(): GuestCall[] {
  const fid = (n: number) => BigInt(n);
  return [
    call(PSCI_FN.PSCI_VERSION),
    ...[...PSCI_FUNCTIONS, SMCCC_ARCH.VERSION].map((f) => call(PSCI_FN.PSCI_FEATURES, [fid(f)])),
    call(PSCI_FN.MIGRATE_INFO_TYPE),
    call(SMCCC_ARCH.VERSION),
    ...[
      SMCCC_ARCH.VERSION,
      SMCCC_ARCH.ARCH_FEATURES,
      SMCCC_ARCH.ARCH_WORKAROUND_1,
      SMCCC_ARCH.ARCH_WORKAROUND_2,
      SMCCC_ARCH.ARCH_WORKAROUND_3,
      SMCCC_ARCH.ARCH_SOC_ID,
      SMCCC_ARCH.ARCH_SOC_ID64,
      PV_TIME_FN.FEATURES,
    ].map((f) => call(SMCCC_ARCH.ARCH_FEATURES, [fid(f)])),
    call(TRNG_FN.VERSION),
    ...Object.values(TRNG_FN).map((f) => call(TRNG_FN.FEATURES, [fid(f)])),
    call(TRNG_FN.GET_UUID),
    ...[PV_TIME_FN.FEATURES, PV_TIME_FN.ST].map((f) => call(PV_TIME_FN.FEATURES, [fid(f)])),
    call(KVM_VENDOR_FN.CALL_UID),
    call(KVM_VENDOR_FN.KVM_FEATURES),
    call(KVM_VENDOR_FN.KVM_PTP, [KVM_PTP_VIRT_COUNTER], { timeVarying: true }),
    call(KVM_VENDOR_FN.KVM_PTP, [KVM_PTP_PHYS_COUNTER], { timeVarying: true }),
    call(KVM_VENDOR_FN.DISCOVER_IMPL_VER),
    { ...call(PSCI_FN.PSCI_VERSION, [], { conduit: "smc" }), name: "PSCI_VERSION via smc" },
    { ...call(SMCCC_ARCH.VERSION, [], { conduit: "smc" }), name: "SMCCC_VERSION via smc" },
    call(PSCI_FN.SYSTEM_OFF, [], { terminal: true }),
  ];
}

/** Names of the op0=3, op1=0, CRn=0 ID registers (Arm ARM; 7.2's arch/arm64/tools/sysreg + sysreg.h). */
const ID_SPACE_NAMES: Record<string, string> = {
  "0.0": "MIDR_EL1",
  "0.5": "MPIDR_EL1",
  "0.6": "REVIDR_EL1",
  "1.0": "ID_PFR0_EL1",
  "1.1": "ID_PFR1_EL1",
  "1.2": "ID_DFR0_EL1",
  "1.3": "ID_AFR0_EL1",
  "1.4": "ID_MMFR0_EL1",
  "1.5": "ID_MMFR1_EL1",
  "1.6": "ID_MMFR2_EL1",
  "1.7": "ID_MMFR3_EL1",
  "2.0": "ID_ISAR0_EL1",
  "2.1": "ID_ISAR1_EL1",
  "2.2": "ID_ISAR2_EL1",
  "2.3": "ID_ISAR3_EL1",
  "2.4": "ID_ISAR4_EL1",
  "2.5": "ID_ISAR5_EL1",
  "2.6": "ID_MMFR4_EL1",
  "2.7": "ID_ISAR6_EL1",
  "3.0": "MVFR0_EL1",
  "3.1": "MVFR1_EL1",
  "3.2": "MVFR2_EL1",
  "3.4": "ID_PFR2_EL1",
  "3.5": "ID_DFR1_EL1",
  "3.6": "ID_MMFR5_EL1",
  "4.0": "ID_AA64PFR0_EL1",
  "4.1": "ID_AA64PFR1_EL1",
  "4.2": "ID_AA64PFR2_EL1",
  "4.4": "ID_AA64ZFR0_EL1",
  "4.5": "ID_AA64SMFR0_EL1",
  "4.7": "ID_AA64FPFR0_EL1",
  "5.0": "ID_AA64DFR0_EL1",
  "5.1": "ID_AA64DFR1_EL1",
  "5.2": "ID_AA64DFR2_EL1",
  "5.4": "ID_AA64AFR0_EL1",
  "5.5": "ID_AA64AFR1_EL1",
  "6.0": "ID_AA64ISAR0_EL1",
  "6.1": "ID_AA64ISAR1_EL1",
  "6.2": "ID_AA64ISAR2_EL1",
  "6.3": "ID_AA64ISAR3_EL1",
  "7.0": "ID_AA64MMFR0_EL1",
  "7.1": "ID_AA64MMFR1_EL1",
  "7.2": "ID_AA64MMFR2_EL1",
  "7.3": "ID_AA64MMFR3_EL1",
  "7.4": "ID_AA64MMFR4_EL1",
};

export function sysregName(e: SysregEncoding): string {
  if (e.op0 === 3 && e.op1 === 0 && e.crn === 0) {
    const n = ID_SPACE_NAMES[`${e.crm}.${e.op2}`];
    if (n) return n;
  }
  const extra = EXTRA_ID_REGS.find(
    (r) =>
      r.encoding.op0 === e.op0 &&
      r.encoding.op1 === e.op1 &&
      r.encoding.crn === e.crn &&
      r.encoding.crm === e.crm &&
      r.encoding.op2 === e.op2,
  );
  return extra?.name ?? `S${e.op0}_${e.op1}_C${e.crn}_C${e.crm}_${e.op2}`;
}

const EXTRA_ID_REGS: readonly { name: string; encoding: SysregEncoding }[] = [
  { name: "CTR_EL0", encoding: { op0: 3, op1: 3, crn: 0, crm: 0, op2: 1 } },
  { name: "DCZID_EL0", encoding: { op0: 3, op1: 3, crn: 0, crm: 0, op2: 7 } },
  { name: "CLIDR_EL1", encoding: { op0: 3, op1: 1, crn: 0, crm: 0, op2: 1 } },
  { name: "AIDR_EL1", encoding: { op0: 3, op1: 1, crn: 0, crm: 0, op2: 7 } },
];

/**
 * The default register list: every encoding of the ID space op0=3, op1=0, CRn=0, CRm=0..7, op2=0..7
 * (64, named where the architecture names them, including MIDR/MPIDR/REVIDR), then CTR_EL0, DCZID_EL0,
 * CLIDR_EL1 and AIDR_EL1.
 */
export function defaultSysregList(): GuestSysregRead[] {
  const list: GuestSysregRead[] = [];
  for (let crm = 0; crm < 8; crm++)
    for (let op2 = 0; op2 < 8; op2++) {
      const encoding = { op0: 3, op1: 0, crn: 0, crm, op2 };
      list.push({ kind: "sysreg", name: sysregName(encoding), encoding });
    }
  for (const r of EXTRA_ID_REGS) list.push({ kind: "sysreg", name: r.name, encoding: r.encoding });
  return list;
}

/**
 * The default item list: the calls, then the ID registers, then `extra` (e.g. gicProbeItems for a VM
 * with a vGIC), with the terminal SYSTEM_OFF moved last: nothing after it runs.
 */
export function defaultProbeItems(extra: readonly GuestItem[] = []): GuestItem[] {
  const calls = defaultCallList();
  const terminal = calls.filter((c) => c.terminal);
  return [...calls.filter((c) => !c.terminal), ...defaultSysregList(), ...extra, ...terminal];
}
