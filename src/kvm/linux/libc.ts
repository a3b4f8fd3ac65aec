/**
 * The few libc calls the Linux backend makes, through koffi 3: open, close, ioctl, mmap, munmap,
 * getpagesize, and errno (koffi.errno(), which koffi saves right after each native call).
 *
 * ioctl is variadic in C (`int ioctl(int fd, unsigned long request, ...)`). koffi can call variadic
 * functions, but every call then re-describes the argument types; instead it is declared twice with a
 * fixed third argument, which is the same call under the Linux calling conventions guestabi runs on
 * (AAPCS64 passes variadic and fixed integer arguments in x0..x7 alike; x86-64 SysV likewise in
 * integer registers, %al only matters for vector arguments):
 *   ioctlValue(fd, request, unsigned long value)   for _IO ioctls taking an integer (CHECK_EXTENSION)
 *   ioctlPtr(fd, request, uintptr_t address)       for ioctls taking a struct pointer
 * Pointers are bigint addresses (koffi 3 returns pointers as bigint). Struct arguments live in
 * native memory this module maps (Scratch), never in JS heap buffers whose storage V8 may move.
 */
import type koffiModule from "koffi";
import { KvmError } from "../errors.js";

type Koffi = typeof koffiModule;

export const O_RDWR = 0o2;
export const O_CLOEXEC = 0o2000000;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
/** (void *)-1 */
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

export interface Libc {
  readonly koffi: Koffi;
  /** open(2); returns the fd or throws KvmError(op). */
  open(path: string, flags: number, op: string): number;
  /** close(2); errors ignored (the fd is gone either way on Linux). */
  close(fd: number): void;
  /** ioctl with an integer argument; returns the (non-negative) result or throws KvmError(op). */
  ioctlValue(fd: number, request: number, value: number | bigint, op: string): number;
  /** ioctl with a pointer argument. */
  ioctlPtr(fd: number, request: number, address: bigint, op: string): number;
  /** ioctl returning -errno instead of throwing (for callers that interpret some errnos). */
  ioctlPtrRaw(fd: number, request: number, address: bigint): { result: number; errno: number };
  ioctlValueRaw(fd: number, request: number, value: number | bigint): { result: number; errno: number };
  /** ioctl with a pointer argument for per-register calls: the result, or -errno; allocates nothing. */
  ioctlPtrErrno(fd: number, request: number, address: bigint): number;
  /** mmap(2); returns the address or throws KvmError(op). */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number, op: string): bigint;
  munmap(address: bigint, length: number): void;
  pageSize(): number;
  /** A live view of native memory (koffi.view). Drop it before unmapping. */
  view(address: bigint, length: number): ArrayBuffer;
}

/** Binds the libc functions with a loaded koffi module. */
export function bindLibc(koffi: Koffi, libcPath = "libc.so.6"): Libc {
  const lib = koffi.load(libcPath);
  const open = lib.func("open", "int", ["str", "int"]);
  const close = lib.func("close", "int", ["int"]);
  const ioctlValue = lib.func("ioctl", "int", ["int", "ulong", "ulong"]);
  const ioctlPtr = lib.func("ioctl", "int", ["int", "ulong", "uintptr_t"]);
  const mmap = lib.func("mmap", "uintptr_t", ["uintptr_t", "size_t", "int", "int", "int", "int64_t"]);
  const munmap = lib.func("munmap", "int", ["uintptr_t", "size_t"]);
  const getpagesize = lib.func("getpagesize", "int", []);
  const errno = (): number => koffi.errno();

  const check = (r: number, op: string): number => {
    if (r < 0) throw new KvmError(op, errno());
    return r;
  };
  return {
    koffi,
    open: (path, flags, op) => check(open(path, flags) as number, op),
    close: (fd) => void close(fd),
    ioctlValue: (fd, request, value, op) => check(ioctlValue(fd, request, value) as number, op),
    ioctlPtr: (fd, request, address, op) => check(ioctlPtr(fd, request, address) as number, op),
    ioctlPtrRaw: (fd, request, address) => {
      const result = ioctlPtr(fd, request, address) as number;
      return { result, errno: result < 0 ? errno() : 0 };
    },
    ioctlPtrErrno: (fd, request, address) => {
      const result = ioctlPtr(fd, request, address) as number;
      return result < 0 ? -errno() : result;
    },
    ioctlValueRaw: (fd, request, value) => {
      const result = ioctlValue(fd, request, value) as number;
      return { result, errno: result < 0 ? errno() : 0 };
    },
    mmap: (length, prot, flags, fd, offset, op) => {
      // uintptr_t comes back as a number when it fits 2^53, else as a bigint.
      const addr = BigInt(mmap(0, length, prot, flags, fd, offset) as number | bigint);
      if (addr === MAP_FAILED) throw new KvmError(op, errno());
      return addr;
    },
    munmap: (address, length) => void munmap(address, length),
    pageSize: () => getpagesize() as number,
    view: (address, length) => koffi.view(address, length),
  };
}

/**
 * A growable native scratch area (anonymous private mapping) for ioctl argument structs and the
 * buffers they point to. `reserve(n)` returns a DataView over at least n bytes at `address`.
 */
export class Scratch {
  address = 0n;
  private length = 0;
  private dv: DataView | undefined;

  constructor(private readonly libc: Libc) {}

  reserve(bytes: number): DataView {
    if (bytes > this.length || !this.dv) {
      this.release();
      const page = this.libc.pageSize();
      const length = Math.max(page, Math.ceil(bytes / page) * page);
      this.address = this.libc.mmap(
        length,
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS,
        -1,
        0,
        "mmap scratch",
      );
      this.length = length;
      this.dv = new DataView(this.libc.view(this.address, length));
    }
    return this.dv;
  }

  /** Zeroes the first n bytes (n <= reserved length) and returns the view. */
  zeroed(bytes: number): DataView {
    const v = this.reserve(bytes);
    new Uint8Array(v.buffer, v.byteOffset, bytes).fill(0);
    return v;
  }

  release(): void {
    if (this.length) this.libc.munmap(this.address, this.length);
    this.dv = undefined;
    this.address = 0n;
    this.length = 0;
  }
}
