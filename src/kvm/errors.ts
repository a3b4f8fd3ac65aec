/**
 * Errors of the hypervisor interface. Every failed KVM operation, in every backend (the Linux ioctl
 * backend, the simulator), is reported as a KvmError carrying the errno KVM gave: its name, its number
 * and the operation, e.g. `KVM_SET_ONE_REG 0x6030000000140000: EINVAL (invalid argument)`.
 *
 * Numbers are Linux's asm-generic ones (include/uapi/asm-generic/errno-base.h and errno.h), which arm64
 * uses; they are the same on every host this code runs on, so a simulator reports identical numbers.
 */

/** Linux errno numbers by name (asm-generic; arm64 and x86 share them). */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  ENOTBLK: 15,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ETXTBSY: 26,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EMLINK: 31,
  EPIPE: 32,
  EDOM: 33,
  ERANGE: 34,
  EDEADLK: 35,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENOMSG: 42,
  EIDRM: 43,
  ENODATA: 61,
  ETIME: 62,
  EPROTO: 71,
  EBADMSG: 74,
  EOVERFLOW: 75,
  EBADFD: 77,
  EILSEQ: 84,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENOBUFS: 105,
  ETIMEDOUT: 110,
  EALREADY: 114,
  EINPROGRESS: 115,
  ECANCELED: 125,
  EHWPOISON: 133,
  /** Kernel-internal (include/linux/errno.h) but known to leak out of some KVM paths. */
  ENOTSUPP: 524,
} as const;

export type KnownErrnoName = keyof typeof ERRNO;
/** A known errno name, or `E<number>` for a number outside the table. */
export type ErrnoName = KnownErrnoName | `E${number}`;

const BY_NUMBER = new Map<number, KnownErrnoName>(
  (Object.entries(ERRNO) as [KnownErrnoName, number][]).map(([name, n]) => [n, name]),
);

/** Short descriptions, as strerror(3) gives them (lower-cased), for the errnos KVM uses. */
const DESCRIPTIONS: Partial<Record<KnownErrnoName, string>> = {
  EPERM: "operation not permitted",
  ENOENT: "no such file or directory",
  EINTR: "interrupted system call",
  EIO: "input/output error",
  ENXIO: "no such device or address",
  E2BIG: "argument list too long",
  ENOEXEC: "exec format error",
  EBADF: "bad file descriptor",
  EAGAIN: "resource temporarily unavailable",
  ENOMEM: "cannot allocate memory",
  EACCES: "permission denied",
  EFAULT: "bad address",
  EBUSY: "device or resource busy",
  EEXIST: "file exists",
  ENODEV: "no such device",
  EINVAL: "invalid argument",
  EMFILE: "too many open files",
  ENOTTY: "inappropriate ioctl for device",
  ENOSPC: "no space left on device",
  ERANGE: "numerical result out of range",
  ENOSYS: "function not implemented",
  EOPNOTSUPP: "operation not supported",
  ENOTSUPP: "operation not supported (kernel-internal ENOTSUPP)",
  EHWPOISON: "memory page has hardware error",
};

export function errnoName(code: number): ErrnoName {
  return BY_NUMBER.get(code) ?? `E${code}`;
}

export function errnoNumber(name: ErrnoName): number {
  if (name in ERRNO) return ERRNO[name as KnownErrnoName];
  const m = /^E(\d+)$/.exec(name);
  if (m) return Number(m[1]);
  throw new RangeError(`unknown errno name '${name}'`);
}

export function errnoDescription(name: ErrnoName): string | undefined {
  return DESCRIPTIONS[name as KnownErrnoName];
}

/**
 * A KVM operation failed with an errno. `op` names the operation the way the kernel documents it, with
 * its key argument: "KVM_SET_ONE_REG 0x6030000000140000", "KVM_CHECK_EXTENSION 239", "KVM_RUN".
 */
export class KvmError extends Error {
  override name = "KvmError";
  /** Errno name: "EINVAL", "E2BIG", ... */
  readonly errno: ErrnoName;
  /** Errno number (Linux asm-generic). */
  readonly code: number;
  /** The operation, e.g. "KVM_GET_ONE_REG 0x603000000013c020". */
  readonly op: string;
  /**
   * KVM_GET_REG_LIST's E2BIG: the register count KVM wrote back into kvm_reg_list.n (the capacity
   * needed). Set only on that error.
   */
  readonly required?: number;

  constructor(op: string, errno: ErrnoName | number, opts: { required?: number; detail?: string } = {}) {
    const name = typeof errno === "number" ? errnoName(errno) : errno;
    const desc = errnoDescription(name);
    const extra = opts.detail ? `; ${opts.detail}` : "";
    super(`${op}: ${name}${desc ? ` (${desc})` : ""}${extra}`);
    this.errno = name;
    this.code = typeof errno === "number" ? errno : errnoNumber(name);
    this.op = op;
    if (opts.required !== undefined) this.required = opts.required;
  }

  /**
   * The same error without a stack trace, for answers callers ask for and catch (KVM_GET_REG_LIST's
   * E2BIG, the ENOENT of a register a probe looks for): capturing the stack is most of a throw's cost.
   * Message, errno, code, op and required are the constructor's.
   */
  static withoutStack(
    op: string,
    errno: ErrnoName | number,
    opts: { required?: number; detail?: string } = {},
  ): KvmError {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new KvmError(op, errno, opts);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }

  /** True when `e` is a KvmError with this errno name (or one of these names). */
  static is(e: unknown, ...names: ErrnoName[]): e is KvmError {
    return e instanceof KvmError && (names.length === 0 || names.includes(e.errno));
  }
}

/** Why a backend cannot be opened on this host. */
export type UnavailableReason = "platform" | "arch" | "no-kvm" | "permission" | "open-failed" | "ffi";

/**
 * The backend cannot run here at all: wrong OS or architecture, no /dev/kvm, no permission, or the FFI
 * library (koffi) could not load. Thrown only by the backend's open function, never by imports.
 */
export class KvmUnavailableError extends Error {
  override name = "KvmUnavailableError";
  constructor(
    readonly reason: UnavailableReason,
    message: string,
  ) {
    super(message);
  }
}

/** "ok" when `fn` returns, else the errno of the KvmError it throws; anything else propagates. */
export function errnoOf(fn: () => unknown): ErrnoName | "ok" {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof KvmError) return e.errno;
    throw e;
  }
}
