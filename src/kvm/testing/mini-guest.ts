/**
 * Test helper: a toy KvmVm/KvmVcpu pair that *executes* the probe program's A64 subset (MOVZ/MOVK,
 * MRS/MSR, HVC/SMC, STR/ADD immediate, B, ERET, NOP/ISB) with an AArch64 EL1 exception model just
 * big enough for the vector table (sync exceptions to VBAR_EL1 + 0x200). Stores outside RAM become
 * MMIO exits, as under KVM. Firmware calls and system registers come from the test. It is not the
 * simulator (src/kvm/sim/): it knows nothing of KVM's register list or its errnos.
 */
import { KvmError } from "../errors.js";
import type { KvmExit, KvmVcpu, KvmVm, MemoryRegion, RegValue, VcpuInit } from "../types.js";
import { CORE_PC, coreXReg } from "../uapi.js";
import { leBytes } from "../values.js";

export type FirmwareAnswer = bigint[] | { systemEvent: number } | "undef";

export interface MiniGuestConfig {
  /** SMCCC calls through HVC (and SMC when smc is "firmware"). */
  firmware: (fid: number, args: [bigint, bigint, bigint], conduit: "hvc" | "smc") => FirmwareAnswer;
  /** What an SMC does: go to firmware (6.4+), return -1 in x0 (5.10..6.3), or UNDEF. */
  smc: "firmware" | "minus1" | "undef";
  /** MRS results by "op0.op1.crn.crm.op2"; missing encodings UNDEF. */
  sysregs: Map<string, bigint>;
  maxSteps?: number;
}

const key = (op0: number, op1: number, crn: number, crm: number, op2: number) =>
  `${op0}.${op1}.${crn}.${crm}.${op2}`;
const M64 = (1n << 64n) - 1n;

export class MiniGuest implements KvmVcpu {
  readonly id = 0;
  x = new Array<bigint>(32).fill(0n);
  pc = 0n;
  sys = { VBAR: 0n, ELR: 0n, ESR: 0n, FAR: 0n };
  ram: { base: bigint; bytes: Uint8Array } | undefined;
  steps = 0;

  constructor(private readonly cfg: MiniGuestConfig) {}

  init(_init: VcpuInit): void {}
  finalize(): void {}
  getRegListRaw(): bigint[] {
    return [];
  }
  getOneReg(id: bigint): RegValue {
    if (id === CORE_PC) return this.pc;
    for (let i = 0; i < 31; i++) if (id === coreXReg(i)) return this.x[i]!;
    throw new KvmError(`KVM_GET_ONE_REG 0x${id.toString(16)}`, "ENOENT");
  }
  setOneReg(id: bigint, value: RegValue): void {
    if (typeof value !== "bigint") throw new RangeError("scalar only");
    if (id === CORE_PC) this.pc = value;
    else {
      const i = [...Array(31).keys()].find((n) => coreXReg(n) === id);
      if (i === undefined) throw new KvmError(`KVM_SET_ONE_REG 0x${id.toString(16)}`, "ENOENT");
      this.x[i] = value;
    }
  }
  setMmioReadData(): void {}
  hasDeviceAttr(): boolean {
    return false;
  }
  getDeviceAttr(): Uint8Array {
    throw new KvmError("KVM_GET_DEVICE_ATTR", "ENXIO");
  }
  setDeviceAttr(): void {
    throw new KvmError("KVM_SET_DEVICE_ATTR", "ENXIO");
  }
  destroy(): void {}

  private reg(n: number): bigint {
    return n === 31 ? 0n : this.x[n]!;
  }
  private undef(at: bigint): void {
    this.sys.ESR = (0n << 26n) | (1n << 25n);
    this.sys.ELR = at;
    this.pc = this.sys.VBAR + 0x200n;
  }

  run(): KvmExit {
    const ram = this.ram;
    if (!ram) throw new KvmError("KVM_RUN", "EFAULT");
    for (;;) {
      if (++this.steps > (this.cfg.maxSteps ?? 100000)) throw new Error("mini guest: step limit");
      const off = Number(this.pc - ram.base);
      if (off < 0 || off + 4 > ram.bytes.length)
        throw new Error(`mini guest: pc 0x${this.pc.toString(16)} outside RAM`);
      const w = new DataView(ram.bytes.buffer, ram.bytes.byteOffset).getUint32(off, true);
      const at = this.pc;
      this.pc += 4n;
      const rd = w & 31;
      if (w === 0xd503201f || w === 0xd5033fdf) continue; // NOP, ISB
      if (w === 0xd69f03e0) {
        this.pc = this.sys.ELR; // ERET
        continue;
      }
      if ((w & 0xff800000) >>> 0 === 0xd2800000) {
        this.x[rd] = BigInt((w >>> 5) & 0xffff) << BigInt(16 * ((w >>> 21) & 3));
        continue;
      }
      if ((w & 0xff800000) >>> 0 === 0xf2800000) {
        const sh = BigInt(16 * ((w >>> 21) & 3));
        this.x[rd] = (this.x[rd]! & ~(0xffffn << sh) & M64) | (BigInt((w >>> 5) & 0xffff) << sh);
        continue;
      }
      if ((w & 0xff800000) >>> 0 === 0x91000000) {
        this.x[rd] = (this.reg((w >>> 5) & 31) + BigInt((w >>> 10) & 0xfff)) & M64;
        continue;
      }
      if ((w & 0xfc000000) >>> 0 === 0x14000000) {
        const imm = ((w & 0x3ffffff) << 6) >> 6;
        this.pc = at + BigInt(imm * 4);
        continue;
      }
      if ((w & 0xffe0001f) >>> 0 === 0xd4000002 || (w & 0xffe0001f) >>> 0 === 0xd4000003) {
        const conduit = (w & 3) === 2 ? "hvc" : "smc";
        if (conduit === "smc" && this.cfg.smc === "undef") {
          this.undef(at);
          continue;
        }
        if (conduit === "smc" && this.cfg.smc === "minus1") {
          this.x[0] = M64;
          continue;
        }
        const ans = this.cfg.firmware(
          Number(this.x[0]! & 0xffffffffn),
          [this.x[1]!, this.x[2]!, this.x[3]!],
          conduit,
        );
        if (ans === "undef") this.undef(at);
        else if (Array.isArray(ans)) ans.forEach((v, i) => (this.x[i] = v & M64));
        else
          return {
            reason: "SYSTEM_EVENT",
            code: 24,
            type: ans.systemEvent,
            event: ans.systemEvent === 1 ? "SHUTDOWN" : "RESET",
            data: [0n],
            flags: 0n,
          };
        continue;
      }
      if ((w & 0xffe00000) >>> 0 === 0xd5200000 || (w & 0xffe00000) >>> 0 === 0xd5000000) {
        const isRead = ((w >>> 21) & 1) === 1;
        const enc = [
          2 + ((w >>> 19) & 1),
          (w >>> 16) & 7,
          (w >>> 12) & 15,
          (w >>> 8) & 15,
          (w >>> 5) & 7,
        ] as const;
        const k = key(...enc);
        const own: Record<string, keyof MiniGuest["sys"]> = {
          "3.0.12.0.0": "VBAR",
          "3.0.4.0.1": "ELR",
          "3.0.5.2.0": "ESR",
          "3.0.6.0.0": "FAR",
        };
        const name = own[k];
        if (name) {
          if (isRead) this.x[rd] = this.sys[name];
          else this.sys[name] = this.reg(rd);
        } else if (isRead && this.cfg.sysregs.has(k)) this.x[rd] = this.cfg.sysregs.get(k)!;
        else this.undef(at);
        continue;
      }
      if ((w & 0xffc00000) >>> 0 === 0xf9000000) {
        const addr = (this.reg((w >>> 5) & 31) + BigInt(((w >>> 10) & 0xfff) * 8)) & M64;
        const value = this.reg(rd);
        if (addr >= ram.base && addr + 8n <= ram.base + BigInt(ram.bytes.length)) {
          ram.bytes.set(leBytes(value, 8), Number(addr - ram.base));
          continue;
        }
        return { reason: "MMIO", code: 6, address: addr, isWrite: true, length: 8, data: leBytes(value, 8) };
      }
      this.undef(at);
    }
  }
}

export class MiniVm implements KvmVm {
  constructor(readonly vcpu: MiniGuest) {}
  private slots = new Map<number, { region: MemoryRegion; bytes: Uint8Array }>();
  checkExtension(): number {
    return 0;
  }
  enableCap(): void {}
  hasDeviceAttr(): boolean {
    return false;
  }
  getDeviceAttr(): Uint8Array {
    throw new KvmError("KVM_GET_DEVICE_ATTR", "ENXIO");
  }
  setDeviceAttr(): void {
    throw new KvmError("KVM_SET_DEVICE_ATTR", "ENXIO");
  }
  getRegWritableMasks(): bigint[] {
    throw new KvmError("KVM_ARM_GET_REG_WRITABLE_MASKS", "EINVAL");
  }
  setUserMemoryRegion(region: MemoryRegion): void {
    const bytes = new Uint8Array(region.size);
    this.slots.set(region.slot, { region, bytes });
    this.vcpu.ram = { base: region.guestPhysAddr, bytes };
  }
  writeGuestMemory(slot: number, offset: number, data: Uint8Array): void {
    this.slots.get(slot)!.bytes.set(data, offset);
  }
  readGuestMemory(slot: number, offset: number, length: number): Uint8Array {
    return this.slots.get(slot)!.bytes.slice(offset, offset + length);
  }
  preferredTarget(): VcpuInit {
    return { target: 5, features: [] };
  }
  createVcpu(): KvmVcpu {
    return this.vcpu;
  }
  destroy(): void {}
}
