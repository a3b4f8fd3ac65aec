/**
 * One test per instruction the A64 interpreter implements (Arm ARM DDI 0487 C6 encodings, each word
 * written out), run through the simulator's KVM interface: load the words, set PC, KVM_RUN, read the
 * registers back. Every program ends with `str xzr, [x28, #8]`, an MMIO write to END; the vector table's
 * synchronous entries store to MMIO + 0 (SPx), + 0x80 (SP0) or + 0x100 (lower EL), so an exception ends
 * the run there with PC at the vector. The A64Machine.mmio contract (in-kernel completion) is tested on
 * a bare machine of the test's own, since the simulator's vCPU decides it per device.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { COPROC, makeId, sysregId } from "../../regs/id.js";
import { getPc, getX, setPc, setX } from "../helpers.js";
import type { KvmExit } from "../types.js";
import { CORE_PSTATE, FW_REGS, packSmcccFilter } from "../uapi.js";
import { buildProbeProgram, gicProbeItems, runProbeProgram } from "../guest/index.js";
import { SimSystem } from "./index.js";
import type { SimGeneration } from "./index.js";
import { execute } from "./interp.js";
import type { A64Machine, A64StateReg, MmioAccess } from "./interp.js";

const RAM = 0x4000_0000n;
const CODE = RAM + 0x1000n;
const VBAR = RAM + 0x800n;
const MMIO = 0x1000_0000n;
const END = MMIO + 8n;
const STR_XZR_X28_0 = 0xf900039f; // str xzr, [x28]
const STR_XZR_X28_8 = 0xf900079f; // str xzr, [x28, #8]
const STR_XZR_X28_128 = 0xf900439f; // str xzr, [x28, #128]
const STR_XZR_X28_256 = 0xf900839f; // str xzr, [x28, #256]
const SYS_VBAR_EL1 = sysregId(3, 0, 12, 0, 0);
const SYS_ESR_EL1 = sysregId(3, 0, 5, 2, 0);
const SYS_FAR_EL1 = sysregId(3, 0, 6, 0, 0);
const core = (offsetBytes: number) => makeId("U64", COPROC.core, offsetBytes / 4); // KVM_REG_ARM_CORE_REG
const CORE_SP_EL0 = core(248); // regs.sp
const CORE_SP_EL1 = core(272); // sp_el1
const CORE_ELR_EL1 = core(280); // elr_el1
const CORE_SPSR_EL1 = core(288); // spsr[KVM_SPSR_EL1]

function le(words: readonly number[]): Uint8Array {
  const b = new Uint8Array(words.length * 4);
  const v = new DataView(b.buffer);
  words.forEach((w, i) => v.setUint32(4 * i, w >>> 0, true));
  return b;
}

/** A 7.2 (or `gen`) VM, 64 KiB of RAM at RAM, VBAR_EL1 at RAM + 0x800 with recording vectors, x28 = MMIO. */
function guest(gen: SimGeneration = "7.2", opts: { hostSmcUndefined?: boolean } = {}) {
  const sys = new SimSystem({ generation: gen, cpu: "cortex-a72", ...opts });
  const vm = sys.createVm();
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM, size: 0x10000 });
  const v = vm.createVcpu(0);
  v.init({ target: vm.preferredTarget().target, features: [2] });
  v.setOneReg(SYS_VBAR_EL1, VBAR);
  vm.writeGuestMemory(0, 0x800, le([STR_XZR_X28_128])); // current EL, SP0, synchronous
  vm.writeGuestMemory(0, 0xa00, le([STR_XZR_X28_0])); // current EL, SPx, synchronous
  vm.writeGuestMemory(0, 0xc00, le([STR_XZR_X28_256])); // lower EL AArch64, synchronous
  setX(v, 28, MMIO);
  const load = (words: readonly number[], at = CODE) => {
    vm.writeGuestMemory(0, Number(at - RAM), le(words));
    setPc(v, at);
  };
  return { sys, vm, v, load };
}

function isMmioWrite(e: KvmExit, address: bigint): void {
  assert.equal(e.reason, "MMIO");
  assert.ok(
    e.reason === "MMIO" && e.isWrite && e.address === address,
    `MMIO write at 0x${address.toString(16)}`,
  );
}

describe("A64 interpreter (through KVM_RUN)", () => {
  it("MOVZ x0, #0x1234, LSL #16 = 0xd2a24680: x0 = 0x12340000, other bits cleared", () => {
    const { v, load } = guest();
    setX(v, 0, 0xffff_ffff_ffff_ffffn);
    load([0xd2a24680, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 0), 0x1234_0000n);
    assert.equal(getPc(v), CODE + 4n); // PC stays on the faulting STR until the next KVM_RUN
  });

  it("MOVK x0, #0xbeef, LSL #32 = 0xf2d7dde0: only bits 47:32 change", () => {
    const { v, load } = guest();
    setX(v, 0, 0x1111_2222_3333_4444n);
    load([0xf2d7dde0, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 0), 0x1111_beef_3333_4444n);
  });

  it("MOV x1, x2 (ORR x1, xzr, x2) = 0xaa0203e1", () => {
    const { v, load } = guest();
    setX(v, 2, 0xdead_beefn);
    load([0xaa0203e1, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 1), 0xdead_beefn);
  });

  it("ADD x25, x25, #4 = 0x91001339; ADD x0, x0, #1, LSL #12 = 0x91400400; ADD sp, sp, #16 = 0x910043ff (SP_EL1 at EL1h)", () => {
    const { v, load } = guest();
    setX(v, 25, 0xffff_ffff_ffff_fffen);
    setX(v, 0, 5n);
    v.setOneReg(CORE_SP_EL1, 0x100n);
    v.setOneReg(CORE_SP_EL0, 0x900n);
    load([0x91001339, 0x91400400, 0x910043ff, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 25), 2n); // wraps modulo 2^64
    assert.equal(getX(v, 0), 0x1005n);
    assert.equal(v.getOneReg(CORE_SP_EL1), 0x110n);
    assert.equal(v.getOneReg(CORE_SP_EL0), 0x900n);
  });

  it("STR x1, [x2, #8] = 0xf9000441: RAM store, little-endian", () => {
    const { vm, v, load } = guest();
    setX(v, 1, 0x0807_0605_0403_0201n);
    setX(v, 2, RAM + 0x2000n);
    load([0xf9000441, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.deepEqual([...vm.readGuestMemory(0, 0x2008, 8)], [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it("STR to an address no slot backs: KVM_EXIT_MMIO with the bytes; PC moves on at the next KVM_RUN (kvm_handle_mmio_return)", () => {
    const { v, load } = guest();
    setX(v, 3, 0x1122_3344_5566_7788n);
    setX(v, 4, MMIO + 0x40n);
    load([0xf9000083, STR_XZR_X28_8]); // str x3, [x4]
    const e = v.run();
    assert.ok(e.reason === "MMIO" && e.isWrite && e.length === 8);
    assert.equal(e.address, MMIO + 0x40n);
    assert.deepEqual([...e.data], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
    assert.equal(getPc(v), CODE); // io_mem_abort leaves PC on the instruction
    isMmioWrite(v.run(), END);
  });

  it("LDR x0, [x26, #16] = 0xf9400b40: RAM load", () => {
    const { vm, v, load } = guest();
    vm.writeGuestMemory(0, 0x3010, new Uint8Array([0xef, 0xbe, 0xad, 0xde, 0, 0, 0, 0x80]));
    setX(v, 26, RAM + 0x3000n);
    load([0xf9400b40, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 0), 0x8000_0000_dead_beefn);
  });

  it("LDR from MMIO: a read exit; the data set before the next KVM_RUN lands in Xt, unanswered reads read 0", () => {
    const { v, load } = guest();
    setX(v, 26, MMIO + 0x30n);
    setX(v, 1, 0x77n);
    load([0xf9400340, 0xf9400341, STR_XZR_X28_8]); // ldr x0, [x26]; ldr x1, [x26]
    const e = v.run();
    assert.ok(e.reason === "MMIO" && !e.isWrite && e.address === MMIO + 0x30n && e.length === 8);
    v.setMmioReadData(new Uint8Array([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]));
    const e2 = v.run();
    assert.ok(e2.reason === "MMIO" && !e2.isWrite);
    assert.equal(getX(v, 0), 0xfedc_ba98_7654_3210n);
    isMmioWrite(v.run(), END); // not answered
    assert.equal(getX(v, 1), 0n);
  });

  it("LDR w0, [x26, #4] = 0xb9400740: RAM load of 4 bytes, zero-extended (x0's upper half cleared)", () => {
    const { vm, v, load } = guest();
    vm.writeGuestMemory(0, 0x3004, new Uint8Array([0xef, 0xbe, 0xad, 0xde, 0x11, 0x22, 0x33, 0x44]));
    setX(v, 26, RAM + 0x3000n);
    setX(v, 0, 0xffff_ffff_ffff_ffffn);
    load([0xb9400740, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 0), 0xdead_beefn);
  });

  it("LDR w1, [x26] = 0xb9400341 from MMIO: a 4-byte read exit; the 4 bytes answered land zero-extended in x1", () => {
    const { v, load } = guest();
    setX(v, 26, MMIO + 0x40n);
    setX(v, 1, 0xffff_ffff_ffff_ffffn);
    load([0xb9400341, STR_XZR_X28_8]);
    const e = v.run();
    assert.ok(e.reason === "MMIO" && !e.isWrite && e.address === MMIO + 0x40n && e.length === 4);
    assert.equal(getPc(v), CODE);
    v.setMmioReadData(new Uint8Array([0x3b, 0x43, 0x00, 0x4b]));
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 1), 0x4b00_433bn);
  });

  it("B .+8 = 0x14000002 skips one instruction; B .-8 = 0x17fffffe branches back", () => {
    const { v, load } = guest();
    load([0x14000002, 0xd28000e5, STR_XZR_X28_8]); // b .+8; movz x5, #7; end
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 5), 0n, "the skipped movz x5, #7 did not run");
    // A fresh vCPU: after an MMIO exit the next KVM_RUN first steps past the access, wherever PC is now.
    const g2 = guest();
    g2.load([0x14000002, STR_XZR_X28_8, 0xd28000e5, 0x17fffffe]); // b .+8; end; movz x5, #7; b .-8
    isMmioWrite(g2.v.run(), END);
    assert.equal(getX(g2.v, 5), 7n);
  });

  it("RET x1 = 0xd65f0020: PC = x1", () => {
    const { v, load } = guest();
    setX(v, 1, CODE + 0x100n);
    load([0xd65f0020]);
    load([STR_XZR_X28_8], CODE + 0x100n);
    setPc(v, CODE);
    isMmioWrite(v.run(), END);
    assert.equal(getPc(v), CODE + 0x100n);
  });

  it("HVC #0 = 0xd4000002 and HVC #1 = 0xd4000022: an SMCCC call (SMCCC_VERSION -> 0x10001); the immediate is ignored (handle_hvc)", () => {
    for (const hvc of [0xd4000002, 0xd4000022]) {
      const { v, load } = guest();
      setX(v, 0, 0x80000000n); // ARM_SMCCC_VERSION_FUNC_ID
      load([hvc, STR_XZR_X28_8]);
      isMmioWrite(v.run(), END);
      assert.equal(getX(v, 0), 0x10001n);
    }
  });

  it("SMC #0 = 0xd4000003: 7.2 an SMCCC call; SMC #1 = 0xd4000023 x0 = ~0 (handle_smc, 6.4+); 6.1 x0 = ~0 for any SMC", () => {
    const cases: [SimGeneration, number, bigint][] = [
      ["7.2", 0xd4000003, 0x10001n],
      ["7.2", 0xd4000023, 0xffff_ffff_ffff_ffffn],
      ["6.1", 0xd4000003, 0xffff_ffff_ffff_ffffn],
      ["5.10", 0xd4000003, 0xffff_ffff_ffff_ffffn],
    ];
    for (const [gen, word, x0] of cases) {
      const { v, load } = guest(gen);
      setX(v, 0, 0x80000000n);
      load([word, STR_XZR_X28_8]);
      isMmioWrite(v.run(), END);
      assert.equal(getX(v, 0), x0, `${gen} 0x${word.toString(16)}`);
    }
  });

  it("SMC on a host whose HCR_EL2.TSC does not trap it: UNDEFINED at EL1, ELR = the SMC", () => {
    const { v, load } = guest("7.2", { hostSmcUndefined: true });
    load([0xd4000003, STR_XZR_X28_8]);
    isMmioWrite(v.run(), MMIO);
    assert.equal(v.getOneReg(SYS_ESR_EL1), 0x0200_0000n);
    assert.equal(v.getOneReg(CORE_ELR_EL1), CODE);
  });

  it("MRS x0, MIDR_EL1 = 0xd5380000; MRS x3, CTR_EL0 = 0xd53b0023: the VM's values", () => {
    const { v, load } = guest();
    load([0xd5380000, 0xd53b0023, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 0), v.getOneReg(sysregId(3, 0, 0, 0, 0)));
    assert.equal(getX(v, 3), v.getOneReg(sysregId(3, 3, 0, 0, 1)));
  });

  it("MSR VBAR_EL1, x0 = 0xd518c000: KVM_GET_ONE_REG(VBAR_EL1) sees it", () => {
    const { v, load } = guest();
    setX(v, 0, RAM + 0x4800n);
    load([0xd518c000, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(v.getOneReg(SYS_VBAR_EL1), RAM + 0x4800n);
  });

  it("MSR CNTV_CVAL_EL0, x0 = 0xd51be340: saved under KVM_REG_ARM_TIMER_CVAL (0x603000000013df02) on 6.12 and 7.2", () => {
    for (const gen of ["6.12", "7.2"] as const) {
      const { v, load } = guest(gen);
      setX(v, 0, 0x1234_5678n);
      load([0xd51be340, STR_XZR_X28_8]);
      isMmioWrite(v.run(), END);
      assert.equal(v.getOneReg(0x603000000013df02n), 0x1234_5678n, gen);
    }
  });

  it("MSR to an ID register (MSR ID_AA64PFR0_EL1, x0 = 0xd5180400): UNDEFINED, ESR 0x02000000", () => {
    const { v, load } = guest();
    load([0xd5180400, STR_XZR_X28_8]);
    isMmioWrite(v.run(), MMIO);
    assert.equal(v.getOneReg(SYS_ESR_EL1), 0x0200_0000n);
    assert.equal(v.getOneReg(CORE_ELR_EL1), CODE);
  });

  it("ERET = 0xd69f03e0: PC = ELR_EL1, PSTATE = SPSR_EL1", () => {
    const { v, load } = guest();
    v.setOneReg(CORE_ELR_EL1, CODE + 0x200n);
    v.setOneReg(CORE_SPSR_EL1, 0x3c4n); // EL1t, DAIF masked
    load([0xd69f03e0]);
    load([STR_XZR_X28_8], CODE + 0x200n);
    setPc(v, CODE);
    isMmioWrite(v.run(), END);
    assert.equal(v.getOneReg(CORE_PSTATE), 0x3c4n);
  });

  for (const [text, word] of [
    ["NOP = 0xd503201f", 0xd503201f],
    ["ISB = 0xd5033fdf", 0xd5033fdf],
  ] as const)
    it(`${text}: PC + 4, nothing else`, () => {
      const { v, load } = guest();
      setX(v, 0, 0x42n);
      load([word, STR_XZR_X28_8]);
      isMmioWrite(v.run(), END);
      assert.equal(getPc(v), CODE + 4n);
      assert.equal(getX(v, 0), 0x42n);
      assert.equal(v.getOneReg(CORE_PSTATE), 0x3c5n);
    });

  it("WFI = 0xd503207f: the vCPU blocks (kvm_handle_wfx); with no interrupt source only a signal ends KVM_RUN: INTR, PC past the WFI", () => {
    const { v, load } = guest();
    load([0xd503207f, STR_XZR_X28_8]);
    assert.equal(v.run().reason, "INTR");
    assert.equal(getPc(v), CODE + 4n);
    isMmioWrite(v.run(), END);
  });

  it("an unimplemented instruction (ADD x0, x1, x2 = 0x8b020020) is UNDEFINED: VBAR + 0x200, ESR 0x02000000, ELR = it, SPSR = old PSTATE", () => {
    const { v, load } = guest();
    load([0x8b020020, STR_XZR_X28_8]);
    isMmioWrite(v.run(), MMIO);
    assert.equal(getPc(v), VBAR + 0x200n);
    assert.equal(v.getOneReg(SYS_ESR_EL1), 0x0200_0000n); // EC 0x00 Unknown, IL
    assert.equal(v.getOneReg(CORE_ELR_EL1), CODE);
    assert.equal(v.getOneReg(CORE_SPSR_EL1), 0x3c5n);
    assert.equal(v.getOneReg(CORE_PSTATE), 0x3c5n);
  });

  it("an unimplemented system register read lands at VBAR + 0x200 with ESR 0x02000000 (kvm_inject_undefined)", () => {
    // mrs x0, S3_0_C0_C0_4 = 0xd5380080 (not a register); mrs x0, S3_3_C15_C0_0 = 0xd53bf000 (IMPDEF, TIDCP)
    for (const w of [0xd5380080, 0xd53bf000]) {
      const { v, load } = guest();
      setX(v, 0, 0x5555n);
      load([w, STR_XZR_X28_8]);
      isMmioWrite(v.run(), MMIO);
      assert.equal(getPc(v), VBAR + 0x200n);
      assert.equal(v.getOneReg(SYS_ESR_EL1), 0x0200_0000n);
      assert.equal(v.getOneReg(CORE_ELR_EL1), CODE);
      assert.equal(getX(v, 0), 0x5555n, "x0 untouched");
    }
  });

  it("the reserved ID space (S3_0_C0_C3_3 = 0xd5380360) reads as zero (ID_UNALLOCATED, TID3)", () => {
    const { v, load } = guest();
    setX(v, 0, 0x5555n);
    load([0xd5380360, STR_XZR_X28_8]);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 0), 0n);
  });

  it("an exception from EL1t goes to VBAR + 0x000", () => {
    const { v, load } = guest();
    v.setOneReg(CORE_PSTATE, 0x3c4n);
    load([0x8b020020]);
    isMmioWrite(v.run(), MMIO + 128n);
    assert.equal(getPc(v), VBAR);
    assert.equal(v.getOneReg(CORE_SPSR_EL1), 0x3c4n);
  });

  it("HVC at EL0 is UNDEFINED: VBAR + 0x400", () => {
    const { v, load } = guest();
    v.setOneReg(CORE_PSTATE, 0x0n); // EL0t
    load([0xd4000002]);
    isMmioWrite(v.run(), MMIO + 256n);
    assert.equal(v.getOneReg(SYS_ESR_EL1), 0x0200_0000n);
  });

  it("an instruction fetch from no memory: KVM injects an external instruction abort (ESR 0x86000010, FAR = PC)", () => {
    const { v } = guest();
    setPc(v, 0x2000_0000n);
    isMmioWrite(v.run(), MMIO);
    assert.equal(v.getOneReg(SYS_ESR_EL1), 0x8600_0010n); // EC IABT_CUR, IL, FSC external abort
    assert.equal(v.getOneReg(SYS_FAR_EL1), 0x2000_0000n);
    assert.equal(v.getOneReg(CORE_ELR_EL1), 0x2000_0000n);
  });

  it("a fetch abort whose vector is not backed either: the guest faults for ever, only a signal ends KVM_RUN", () => {
    const { v } = guest();
    v.setOneReg(SYS_VBAR_EL1, 0n);
    setPc(v, 0x2000_0000n);
    assert.equal(v.run().reason, "INTR");
  });

  it("SMCCC calls the SMCCC filter forwards: KVM_EXIT_HYPERCALL, PC past the HVC", () => {
    const { vm, v, load } = guest();
    vm.setDeviceAttr(0, 0n, packSmcccFilter({ base: 0x84000000, nrFunctions: 1, action: "FWD_TO_USER" }));
    setX(v, 0, 0x84000000n);
    load([0xd4000002, STR_XZR_X28_8]);
    const e = v.run();
    assert.ok(
      e.reason === "HYPERCALL" && e.functionId === 0x84000000 && e.conduit === "hvc" && e.flags === 0n,
    );
    assert.equal(getPc(v), CODE + 4n);
    setX(v, 0, 0x10000n);
    isMmioWrite(v.run(), END);
    assert.equal(getX(v, 0), 0x10000n);
    assert.equal(
      v.getOneReg(FW_REGS.PSCI_VERSION),
      0x10003n,
      "the VMM's answer does not change KVM's register",
    );
  });
});

/**
 * A bare A64Machine: 4 KiB of RAM at RAM holding `words` from RAM + 0, EL1h, and an mmio() the test
 * writes (the accesses it saw and the registers setX wrote are kept). Every other trap fails the test.
 */
function bareMachine(words: readonly number[], mmio: (a: MmioAccess) => KvmExit | bigint | undefined) {
  const mem = new Uint8Array(0x1000);
  mem.set(le(words));
  const x = new Array<bigint>(31).fill(0n);
  const state = new Map<A64StateReg, bigint>([["PSTATE", 0x3c5n]]);
  const accesses: MmioAccess[] = [];
  const written: number[] = [];
  let pc = RAM;
  const unexpected = (what: string) => () => assert.fail(`unexpected ${what}`);
  const m: A64Machine = {
    x: (n) => x[n]!,
    setX: (n, v) => {
      written.push(n);
      x[n] = v;
    },
    pc: () => pc,
    setPc: (v) => void (pc = v),
    get: (r) => state.get(r) ?? 0n,
    set: (r, v) => void state.set(r, v),
    ram: (gpa, len) =>
      gpa >= RAM && gpa + BigInt(len) <= RAM + 0x1000n ? { mem, off: Number(gpa - RAM) } : undefined,
    hvc: unexpected("HVC"),
    smc: unexpected("SMC"),
    mrs: unexpected("MRS"),
    msr: unexpected("MSR"),
    mmio: (a) => {
      accesses.push({ ...a, data: a.data.slice() });
      return mmio(a);
    },
    fetchAbort: unexpected("fetch abort"),
    wfi: unexpected("WFI"),
  };
  return { m, mem, accesses, written };
}

const GICD = 0x0800_0000n;
const readExit = (a: MmioAccess): KvmExit => ({
  reason: "MMIO",
  code: 6,
  address: a.address,
  isWrite: a.isWrite,
  length: a.len,
  data: new Uint8Array(a.len),
});

describe("A64Machine.mmio: exits and in-kernel devices (a bare machine)", () => {
  it("LDR w0, [x1, #4] = 0xb9400420 from RAM: the 4 bytes at x1 + 4, zero-extended; mmio() not asked", () => {
    const { m, mem, accesses } = bareMachine([0xb9400420], readExit);
    mem.set([0x78, 0x56, 0x34, 0x12, 0xff], 0x804);
    m.setX(1, RAM + 0x800n);
    m.setX(0, 0xffff_ffff_ffff_ffffn);
    assert.equal(execute(m), undefined);
    assert.equal(m.x(0), 0x1234_5678n);
    assert.equal(m.pc(), RAM + 4n);
    assert.deepEqual(accesses, []);
  });

  it("LDR w0, [x1] = 0xb9400020 where no memory is: mmio() sees a 4-byte read into Rt 0; its exit is returned, PC stays", () => {
    const { m, accesses } = bareMachine([0xb9400020], readExit);
    m.setX(1, GICD + 8n);
    m.setX(0, 0x77n);
    const exit = execute(m);
    assert.deepEqual(exit, {
      reason: "MMIO",
      code: 6,
      address: GICD + 8n,
      isWrite: false,
      length: 4,
      data: new Uint8Array(4),
    });
    assert.deepEqual(accesses, [
      { address: GICD + 8n, isWrite: false, len: 4, rt: 0, data: new Uint8Array(4) },
    ]);
    assert.equal(m.pc(), RAM);
    assert.equal(m.x(0), 0x77n, "x0 waits for the completion");
  });

  it("an in-kernel device answers LDR w0 (0xb9400020) and LDR x2, [x1, #8] (0xf9400422): values in Rt, W zero-extended, execution goes on", () => {
    const answers = new Map<bigint, bigint>([
      [GICD + 8n, 0xffff_ffff_4b00_343bn], // more than 4 bytes: only the low 4 reach w0
      [GICD + 0x10n, 0x0000_0001_0000_0111n],
    ]);
    const { m, accesses } = bareMachine([0xb9400020, 0xf9400422, 0xd503201f], (a) => answers.get(a.address));
    m.setX(1, GICD + 8n);
    m.setX(0, 0xffff_ffff_ffff_ffffn);
    assert.equal(execute(m), undefined);
    assert.equal(m.x(0), 0x4b00_343bn);
    assert.equal(m.pc(), RAM + 4n);
    assert.equal(execute(m), undefined);
    assert.equal(m.x(2), 0x0000_0001_0000_0111n);
    assert.equal(m.pc(), RAM + 8n);
    assert.deepEqual(
      accesses.map((a) => [a.address, a.len, a.rt, a.isWrite]),
      [
        [GICD + 8n, 4, 0, false],
        [GICD + 0x10n, 8, 2, false],
      ],
    );
  });

  it("an in-kernel device takes STR x3, [x1] (0xf9000023): mmio() gets the bytes, PC moves on", () => {
    const { m, accesses } = bareMachine([0xf9000023], () => undefined);
    m.setX(1, GICD);
    m.setX(3, 0x0102_0304_0506_0708n);
    assert.equal(execute(m), undefined);
    assert.equal(m.pc(), RAM + 4n);
    assert.deepEqual([...accesses[0]!.data], [8, 7, 6, 5, 4, 3, 2, 1]);
    assert.equal(accesses[0]!.isWrite, true);
  });

  it("LDR wzr, [x1] = 0xb940003f answered in-kernel: the value is discarded", () => {
    const { m, written } = bareMachine([0xb940003f], () => 0x1234n);
    m.setX(1, GICD);
    assert.equal(execute(m), undefined);
    assert.equal(m.pc(), RAM + 4n);
    assert.deepEqual(written, [1], "only the test's own setX(1)");
  });

  it("a machine that completes a load without a value, or a store with one, is a bug: it throws", () => {
    const load = bareMachine([0xb9400020], () => undefined);
    load.m.setX(1, GICD);
    assert.throws(() => execute(load.m), /completed a load without a value/);
    const store = bareMachine([0xf9000023], () => 0n);
    store.m.setX(1, GICD);
    assert.throws(() => execute(store.m), /completed a store with a value/);
  });
});

describe("the probe program's GIC load items on a VM without a vGIC (7.2)", () => {
  it("each load is a read exit of its size, answered with zeros: every item 'unhandled', nothing unexpected", () => {
    const sys = new SimSystem({ generation: "7.2", cpu: "cortex-a72" });
    const vm = sys.createVm();
    const v = vm.createVcpu(0);
    v.init({ target: vm.preferredTarget().target, features: [2] });
    const items = gicProbeItems({ dist: GICD, redist: 0x080a_0000n, its: 0x0808_0000n });
    const run = runProbeProgram(vm, v, buildProbeProgram(items));
    assert.deepEqual(
      run.records.filter((r) => !r.isWrite).map((r) => [r.address, r.length]),
      [
        [0x0800_0000n, 4],
        [0x0800_0004n, 4],
        [0x0800_0008n, 4],
        [0x0800_000cn, 4],
        [0x0800_ffe8n, 4],
        [0x080a_0000n, 4],
        [0x080a_0004n, 4],
        [0x080a_0008n, 8],
        [0x0808_0000n, 4],
        [0x0808_0004n, 4],
        [0x0808_0008n, 8],
      ],
    );
    assert.deepEqual(
      run.result.items.map((it) => [it.name, it.outcome]),
      items.map((it) => [it.name, "unhandled"]),
    );
    assert.deepEqual(run.result.unexpected, []);
    assert.equal(run.result.completed, true);
    assert.deepEqual(run.result.end, { kind: "done" });
  });
});
