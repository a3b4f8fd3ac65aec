/**
 * The Linux backend against a fake libc whose ioctl() plays a tiny KVM: it reads and writes the
 * argument structs at the addresses the backend passes, with the offsets written out here from the
 * uapi headers (not imported from structs.ts), so the marshalling is checked end to end without KVM.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ERRNO, KvmError } from "../errors.js";
import { getRegList, initPmu } from "../helpers.js";
import { FW_REGS, KVM_IOCTL, coreXReg, packSmcccFilter } from "../uapi.js";
import { regSizeBytes, regValueFromBytes, regValueToBytes } from "../values.js";
import { LinuxKvmSystem } from "./backend.js";
import type { Libc } from "./libc.js";
import { Scratch } from "./libc.js";

const U128_ID = 0x6040000000100054n;
const U32_ID = 0x60200000001000d4n;
const RUN_SIZE = 8192;

class FakeKernel {
  regions = new Map<bigint, ArrayBuffer>();
  nextAddr = 0x1000_0000n;
  nextFd = 10;
  fds = new Map<
    number,
    | { kind: "sys" }
    | { kind: "vm"; slots: Map<number, bigint[]> }
    | { kind: "vcpu"; run: ArrayBuffer; regs: Map<bigint, Uint8Array>; inited: boolean; finalized: number[] }
  >();
  closed: number[] = [];
  unmapped: bigint[] = [];
  calls: string[] = [];
  exits: ((run: DataView) => void)[] = [];
  lastMmioData = 0n;
  createVmEintr = 0;

  mem(addr: bigint, len: number): Uint8Array {
    for (const [base, buf] of this.regions)
      if (addr >= base && addr + BigInt(len) <= base + BigInt(buf.byteLength))
        return new Uint8Array(buf, Number(addr - base), len);
    throw new Error(`fake kernel: bad address 0x${addr.toString(16)}`);
  }
  dv(addr: bigint, len: number): DataView {
    const m = this.mem(addr, len);
    return new DataView(m.buffer, m.byteOffset, len);
  }

  libc(): Libc {
    const fail = (errno: number) => ({ result: -1, errno });
    const ok = (result = 0) => ({ result, errno: 0 });
    const ioctl = (fd: number, req: number, arg: bigint): { result: number; errno: number } => {
      const o = this.fds.get(fd);
      if (!o) return fail(ERRNO.EBADF);
      const name = Object.entries(KVM_IOCTL).find(([, v]) => v === req)?.[0] ?? `0x${req.toString(16)}`;
      this.calls.push(name);
      switch (name) {
        case "KVM_CHECK_EXTENSION":
          return ok(Number(arg) === 165 ? 48 : 0);
        case "KVM_GET_API_VERSION":
          return ok(12);
        case "KVM_CREATE_VM":
          if (this.createVmEintr-- > 0) return fail(ERRNO.EINTR);
          this.fds.set(this.nextFd, { kind: "vm", slots: new Map() });
          return ok(this.nextFd++);
        case "KVM_CREATE_VCPU":
          this.fds.set(this.nextFd, {
            kind: "vcpu",
            run: new ArrayBuffer(RUN_SIZE),
            regs: new Map(),
            inited: false,
            finalized: [],
          });
          return ok(this.nextFd++);
        case "KVM_ARM_PREFERRED_TARGET": {
          const v = this.dv(arg, 32);
          v.setUint32(0, 5, true);
          v.setUint32(4, 1 << 2, true);
          return ok();
        }
        case "KVM_SET_USER_MEMORY_REGION": {
          const v = this.dv(arg, 32);
          if (o.kind !== "vm") return fail(ERRNO.ENOTTY);
          const [slot, flags, gpa, size, uaddr] = [
            v.getUint32(0, true),
            v.getUint32(4, true),
            v.getBigUint64(8, true),
            v.getBigUint64(16, true),
            v.getBigUint64(24, true),
          ];
          if (size % 4096n) return fail(ERRNO.EINVAL);
          if (size === 0n) o.slots.delete(slot);
          else o.slots.set(slot, [BigInt(flags), gpa, size, uaddr]);
          return ok();
        }
        case "KVM_ENABLE_CAP": {
          const v = this.dv(arg, 104);
          this.calls.push(
            `cap=${v.getUint32(0, true)} flags=${v.getUint32(4, true)} args=${[0, 1, 2, 3].map((i) => v.getBigUint64(8 + 8 * i, true)).join(",")}`,
          );
          return ok();
        }
        case "KVM_HAS_DEVICE_ATTR":
        case "KVM_SET_DEVICE_ATTR":
        case "KVM_GET_DEVICE_ATTR": {
          const v = this.dv(arg, 24);
          const [group, attr, addr] = [
            v.getUint32(4, true),
            v.getBigUint64(8, true),
            v.getBigUint64(16, true),
          ];
          if (o.kind === "vcpu") {
            this.calls.push(`vcpu attr ${group}/${attr}`);
            return group === 0 && attr === 1n ? ok() : fail(ERRNO.ENXIO);
          }
          if (group !== 0 || attr !== 0n) return fail(ERRNO.ENXIO);
          if (name === "KVM_SET_DEVICE_ATTR")
            this.calls.push(`filter=${Buffer.from(this.mem(addr, 24)).toString("hex")}`);
          if (name === "KVM_GET_DEVICE_ATTR") this.mem(addr, 4).set([1, 2, 3, 4]);
          return ok();
        }
        case "KVM_ARM_GET_REG_WRITABLE_MASKS": {
          const v = this.dv(arg, 64);
          if (v.getUint32(8, true) !== 0) return fail(ERRNO.EINVAL);
          const masks = this.dv(v.getBigUint64(0, true), 192 * 8);
          masks.setBigUint64(32 * 8, 0xf0n, true);
          return ok();
        }
        case "KVM_ARM_VCPU_INIT": {
          if (o.kind !== "vcpu") return fail(ERRNO.ENOTTY);
          const v = this.dv(arg, 32);
          if (v.getUint32(0, true) !== 5) return fail(ERRNO.EINVAL);
          if (v.getUint32(4, true) & ~0x7f) return fail(ERRNO.ENOENT);
          o.inited = true;
          o.regs.set(FW_REGS.PSCI_VERSION, Uint8Array.of(2, 0, 1, 0, 0, 0, 0, 0));
          o.regs.set(U32_ID, Uint8Array.of(0x10, 0, 0, 0));
          o.regs.set(
            U128_ID,
            Uint8Array.from({ length: 16 }, (_, i) => i),
          );
          o.regs.set(coreXReg(0), new Uint8Array(8));
          return ok();
        }
        case "KVM_ARM_VCPU_FINALIZE": {
          if (o.kind !== "vcpu") return fail(ERRNO.ENOTTY);
          o.finalized.push(this.dv(arg, 4).getInt32(0, true));
          return ok();
        }
        case "KVM_GET_REG_LIST": {
          if (o.kind !== "vcpu") return fail(ERRNO.ENOTTY);
          if (!o.inited) return fail(ERRNO.ENOEXEC);
          const ids = [...o.regs.keys()];
          const v = this.dv(arg, 8);
          const n = v.getBigUint64(0, true);
          v.setBigUint64(0, BigInt(ids.length), true);
          if (n < BigInt(ids.length)) return fail(ERRNO.E2BIG);
          const list = this.dv(arg + 8n, 8 * ids.length);
          ids.forEach((id, i) => list.setBigUint64(8 * i, id, true));
          return ok();
        }
        case "KVM_GET_ONE_REG":
        case "KVM_SET_ONE_REG": {
          if (o.kind !== "vcpu") return fail(ERRNO.ENOTTY);
          if (!o.inited) return fail(ERRNO.ENOEXEC);
          const v = this.dv(arg, 16);
          const [id, addr] = [v.getBigUint64(0, true), v.getBigUint64(8, true)];
          const cur = o.regs.get(id);
          if (!cur) return fail(ERRNO.ENOENT);
          const user = this.mem(addr, cur.length);
          if (name === "KVM_GET_ONE_REG") user.set(cur);
          else if (id === FW_REGS.PSCI_VERSION && user[0] === 0xff) return fail(ERRNO.EINVAL);
          else cur.set(user);
          return ok();
        }
        case "KVM_RUN": {
          if (o.kind !== "vcpu") return fail(ERRNO.ENOTTY);
          const run = new DataView(o.run);
          this.lastMmioData = run.getBigUint64(40, true);
          const next = this.exits.shift();
          if (!next) return fail(ERRNO.EINTR);
          new Uint8Array(o.run, 32, 256).fill(0);
          next(run);
          return ok();
        }
        default:
          return fail(ERRNO.EINVAL);
      }
    };
    return {
      koffi: undefined as never,
      open: () => 3,
      close: (fd) => void this.closed.push(fd),
      ioctlValue: (fd, req, value, op) => {
        const r = ioctl(fd, req, BigInt(value));
        if (r.result < 0) throw new KvmError(op, r.errno);
        return r.result;
      },
      ioctlPtr: (fd, req, address, op) => {
        const r = ioctl(fd, req, address);
        if (r.result < 0) throw new KvmError(op, r.errno);
        return r.result;
      },
      ioctlPtrRaw: (fd, req, address) => ioctl(fd, req, address),
      ioctlPtrErrno: (fd, req, address) => {
        const r = ioctl(fd, req, address);
        return r.result < 0 ? -r.errno : r.result;
      },
      ioctlValueRaw: (fd, req, value) => ioctl(fd, req, BigInt(value)),
      mmap: (length, _prot, _flags, fd) => {
        const addr = this.nextAddr;
        this.nextAddr += BigInt(length) + 0x10000n;
        const o = fd >= 0 ? this.fds.get(fd) : undefined;
        this.regions.set(addr, o?.kind === "vcpu" ? o.run : new ArrayBuffer(length));
        return addr;
      },
      munmap: (address) => {
        this.regions.delete(address);
        this.unmapped.push(address);
      },
      pageSize: () => 4096,
      view: (address, length) => {
        const buf = this.regions.get(address);
        assert.ok(buf && buf.byteLength >= length, `view of unmapped 0x${address.toString(16)}`);
        return buf;
      },
    };
  }
}

function open(k: FakeKernel): LinuxKvmSystem {
  k.fds.set(3, { kind: "sys" });
  const libc = k.libc();
  return new LinuxKvmSystem({ libc, scratch: new Scratch(libc), vcpuMmapSize: RUN_SIZE }, 3, "/dev/kvm");
}

describe("Linux backend marshalling (fake kernel)", () => {
  it("creates a VM and vCPU and initialises it", () => {
    const k = new FakeKernel();
    const sys = open(k);
    assert.equal(sys.checkExtension(165), 48);
    const vm = sys.createVm({ ipaBits: 48 });
    assert.equal(vm.checkExtension(1), 0);
    const init = vm.preferredTarget();
    assert.deepEqual(init, { target: 5, features: [2] });
    const vcpu = vm.createVcpu(0);
    assert.throws(
      () => vcpu.getOneReg(FW_REGS.PSCI_VERSION),
      (e) => KvmError.is(e, "ENOEXEC"),
    );
    assert.throws(
      () => vcpu.init({ target: 5, features: [9] }),
      (e) => KvmError.is(e, "ENOENT"),
    );
    vcpu.init({ target: 5, features: [2, 4] });
    vcpu.finalize(4);
    const fake = [...k.fds.values()].find((o) => o.kind === "vcpu");
    assert.ok(fake?.kind === "vcpu");
    assert.deepEqual(fake.finalized, [4]);
  });

  it("retries KVM_CREATE_VM on EINTR", () => {
    const k = new FakeKernel();
    k.createVmEintr = 2;
    const sys = open(k);
    assert.equal(sys.apiVersion(), 12);
    sys.createVm();
    assert.equal(k.calls.filter((c) => c === "KVM_CREATE_VM").length, 3);
  });

  it("reads and writes registers of 4, 8 and 16 bytes", () => {
    const k = new FakeKernel();
    const vcpu = open(k).createVm().createVcpu(0);
    vcpu.init({ target: 5, features: [] });
    assert.equal(vcpu.getOneReg(FW_REGS.PSCI_VERSION), 0x10002n);
    assert.equal(vcpu.getOneReg(U32_ID), 0x10n);
    assert.deepEqual(
      vcpu.getOneReg(U128_ID),
      Uint8Array.from({ length: 16 }, (_, i) => i),
    );
    vcpu.setOneReg(FW_REGS.PSCI_VERSION, 0x10001n);
    assert.equal(vcpu.getOneReg(FW_REGS.PSCI_VERSION), 0x10001n);
    vcpu.setOneReg(U128_ID, new Uint8Array(16).fill(7));
    assert.deepEqual(vcpu.getOneReg(U128_ID), new Uint8Array(16).fill(7));
    assert.throws(
      () => vcpu.setOneReg(FW_REGS.PSCI_VERSION, 0xffn),
      (e) => KvmError.is(e, "EINVAL") && (e as KvmError).op === "KVM_SET_ONE_REG 0x6030000000140000",
    );
    assert.throws(
      () => vcpu.getOneReg(0x6030000000139999n),
      (e) => KvmError.is(e, "ENOENT"),
    );
  });

  it("moves every register size and value as regValueFromBytes / regValueToBytes do (fast path == slow path)", () => {
    const k = new FakeKernel();
    const vcpu = open(k).createVm().createVcpu(0);
    vcpu.init({ target: 5, features: [] });
    const regs = [...k.fds.values()].find((o) => o.kind === "vcpu")!.regs;
    // Any id bits: all 16 size codes (9..15 are no KVM_REG_SIZE_*), wrapped and negative ids included.
    const ids = fc.bigInt({ min: -(1n << 64n), max: (1n << 65n) - 1n });
    const values = fc.oneof(
      fc.bigInt({ min: -(1n << 8n), max: (1n << 72n) - 1n }),
      fc.uint8Array({ maxLength: 300 }),
    );
    const outcome = (f: () => unknown): unknown => {
      try {
        return { value: f() };
      } catch (e) {
        return { error: (e as Error).name, message: (e as Error).message };
      }
    };
    fc.assert(
      fc.property(ids, fc.uint8Array({ minLength: 256, maxLength: 256 }), values, (id, stored, value) => {
        const size = outcome(() => regSizeBytes(id));
        const key = BigInt.asUintN(64, id);
        if ("error" in (size as object)) {
          assert.deepEqual(
            outcome(() => vcpu.getOneReg(id)),
            size,
          );
          assert.deepEqual(
            outcome(() => vcpu.setOneReg(id, value)),
            size,
          );
          return;
        }
        const n = (size as { value: number }).value;
        regs.set(key, Uint8Array.from(stored.subarray(0, n)));
        assert.deepEqual(vcpu.getOneReg(id), regValueFromBytes(id, stored.subarray(0, n)));
        const bytes = outcome(() => regValueToBytes(id, value));
        const set = outcome(() => vcpu.setOneReg(id, value));
        if ("error" in (bytes as object)) assert.deepEqual(set, bytes);
        else assert.deepEqual(regs.get(key), (bytes as { value: Uint8Array }).value);
        regs.delete(key);
      }),
      { numRuns: 2000 },
    );
  });

  it("follows KVM_GET_REG_LIST's E2BIG protocol", () => {
    const k = new FakeKernel();
    const vcpu = open(k).createVm().createVcpu(0);
    vcpu.init({ target: 5, features: [] });
    assert.throws(
      () => vcpu.getRegListRaw(1),
      (e) => KvmError.is(e, "E2BIG") && (e as KvmError).required === 4,
    );
    assert.equal(vcpu.getRegListRaw(10).length, 4);
    assert.deepEqual(getRegList(vcpu), [FW_REGS.PSCI_VERSION, U32_ID, U128_ID, coreXReg(0)]);
  });

  it("passes VM caps, attributes and writable masks", () => {
    const k = new FakeKernel();
    const vm = open(k).createVm();
    vm.enableCap(239, [1n]);
    assert.ok(k.calls.includes("cap=239 flags=0 args=1,0,0,0"));
    assert.equal(vm.hasDeviceAttr(0, 0n), true);
    assert.equal(vm.hasDeviceAttr(1, 0n), false);
    assert.deepEqual([...vm.getDeviceAttr(0, 0n, 4)], [1, 2, 3, 4]);
    vm.setDeviceAttr(0, 0n, packSmcccFilter({ base: 0xc6000040, nrFunctions: 2, action: "FWD_TO_USER" }));
    assert.ok(k.calls.includes("filter=400000c6" + "02000000" + "02" + "00".repeat(15)), k.calls.join(" "));
    const masks = vm.getRegWritableMasks();
    assert.equal(masks.length, 192);
    assert.equal(masks[32], 0xf0n);
    assert.throws(
      () => vm.getRegWritableMasks(1),
      (e) => KvmError.is(e, "EINVAL"),
    );
  });

  it("passes vCPU attributes (PMU init)", () => {
    const k = new FakeKernel();
    const vcpu = open(k).createVm().createVcpu(0);
    initPmu(vcpu);
    assert.ok(k.calls.includes("vcpu attr 0/1"));
    assert.equal(vcpu.hasDeviceAttr(1, 0n), false);
    assert.throws(
      () => vcpu.setDeviceAttr(2, 0n, new Uint8Array(8)),
      (e) =>
        KvmError.is(e, "ENXIO") && (e as KvmError).op === "KVM_SET_DEVICE_ATTR (vCPU 0) group=2 attr=0x0",
    );
  });

  it("owns guest memory per slot", () => {
    const k = new FakeKernel();
    const vm = open(k).createVm();
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x40000000n, size: 0x10000 });
    vm.writeGuestMemory(0, 0x100, Uint8Array.of(1, 2, 3));
    assert.deepEqual([...vm.readGuestMemory(0, 0xff, 5)], [0, 1, 2, 3, 0]);
    assert.throws(() => vm.readGuestMemory(0, 0xfffe, 4), RangeError);
    assert.throws(() => vm.readGuestMemory(1, 0, 1), RangeError);
    assert.throws(
      () => vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: 0n, size: 100 }),
      (e) => KvmError.is(e, "EINVAL"),
    );
    const before = k.unmapped.length;
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x40000000n, size: 0 });
    assert.equal(k.unmapped.length, before + 1);
    assert.throws(() => vm.writeGuestMemory(0, 0, Uint8Array.of(1)), RangeError);
  });

  it("decodes exits and answers MMIO reads through kvm_run", () => {
    const k = new FakeKernel();
    const vcpu = open(k).createVm().createVcpu(0);
    vcpu.init({ target: 5, features: [] });
    k.exits.push(
      (r) => {
        r.setUint32(8, 6, true);
        r.setBigUint64(32, 0x9000000n, true);
        r.setBigUint64(40, 0xabcdn, true);
        r.setUint32(48, 4, true);
        r.setUint8(52, 0);
      },
      (r) => {
        r.setUint32(8, 24, true);
        r.setUint32(32, 1, true);
      },
    );
    const read = vcpu.run();
    assert.ok(read.reason === "MMIO" && !read.isWrite && read.length === 4);
    vcpu.setMmioReadData(Uint8Array.of(0x78, 0x56, 0x34, 0x12));
    const off = vcpu.run();
    assert.equal(k.lastMmioData, 0x12345678n);
    assert.ok(off.reason === "SYSTEM_EVENT" && off.event === "SHUTDOWN");
    assert.deepEqual(vcpu.run(), { reason: "INTR", code: 10 });
  });

  it("zeroes the data of an MMIO read nobody answers", () => {
    const k = new FakeKernel();
    const vcpu = open(k).createVm().createVcpu(0);
    vcpu.init({ target: 5, features: [] });
    k.exits.push(
      (r) => {
        r.setUint32(8, 6, true);
        r.setBigUint64(40, 0xffffn, true); // stale bytes
        r.setUint32(48, 8, true);
      },
      (r) => r.setUint32(8, 8, true),
    );
    vcpu.run();
    vcpu.run();
    assert.equal(k.lastMmioData, 0n);
  });

  it("releases fds and mappings children first, once", () => {
    const k = new FakeKernel();
    const sys = open(k);
    const vm = sys.createVm();
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x40000000n, size: 0x10000 });
    const vcpu = vm.createVcpu(0);
    sys.close();
    sys.close();
    assert.deepEqual(k.closed, [11, 10, 3]); // vCPU, VM, /dev/kvm
    assert.ok(k.regions.size === 0, "every mapping released");
    assert.throws(
      () => vcpu.run(),
      (e) => KvmError.is(e, "EBADF"),
    );
    assert.throws(
      () => vm.createVcpu(1),
      (e) => KvmError.is(e, "EBADF"),
    );
    assert.throws(
      () => sys.createVm(),
      (e) => KvmError.is(e, "EBADF"),
    );
    vcpu.destroy();
    vm.destroy();
  });
});
