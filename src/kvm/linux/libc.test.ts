/**
 * The libc layer through real koffi, on whatever Linux runs the tests (x86-64 included): open, ioctl
 * errors as KvmError, anonymous mappings and views. Skipped where koffi cannot load.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KvmError } from "../errors.js";
import { KVM_IOCTL } from "../uapi.js";
import type { Libc } from "./libc.js";
import {
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  O_CLOEXEC,
  O_RDWR,
  PROT_READ,
  PROT_WRITE,
  Scratch,
  bindLibc,
} from "./libc.js";

let libc: Libc | undefined;
let why = "";
if (process.platform === "linux") {
  try {
    libc = bindLibc((await import("koffi")).default);
  } catch (e) {
    why = `koffi unavailable: ${(e as Error).message.split("\n")[0]}`;
  }
} else why = "not Linux";

describe("libc through koffi", { skip: !libc && why }, () => {
  it("opens, fails an ioctl with ENOTTY as a KvmError, and closes", () => {
    const fd = libc!.open("/dev/null", O_RDWR | O_CLOEXEC, "open /dev/null");
    assert.ok(fd >= 0);
    try {
      assert.throws(
        () => libc!.ioctlValue(fd, KVM_IOCTL.KVM_GET_API_VERSION, 0, "KVM_GET_API_VERSION"),
        (e: unknown) => e instanceof KvmError && e.errno === "ENOTTY" && e.op === "KVM_GET_API_VERSION",
      );
      assert.deepEqual(libc!.ioctlPtrRaw(fd, KVM_IOCTL.KVM_GET_REG_LIST, 0n), { result: -1, errno: 25 });
      assert.equal(libc!.ioctlPtrErrno(fd, KVM_IOCTL.KVM_GET_REG_LIST, 0n), -25); // -ENOTTY
    } finally {
      libc!.close(fd);
    }
  });

  it("maps the errno of a failed open", () => {
    assert.throws(
      () => libc!.open("/nonexistent/kvm", O_RDWR, "open /nonexistent/kvm"),
      (e: unknown) => KvmError.is(e, "ENOENT"),
    );
  });

  it("maps anonymous memory and views it", () => {
    const page = libc!.pageSize();
    assert.ok(page >= 4096 && (page & (page - 1)) === 0);
    const addr = libc!.mmap(page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, "mmap");
    const bytes = new Uint8Array(libc!.view(addr, page));
    assert.ok(bytes.every((b) => b === 0));
    bytes[0] = 42;
    assert.equal(libc!.koffi.decode.uint8(addr), 42);
    libc!.munmap(addr, page);
  });

  it("reports a failed mmap", () => {
    // MAP_SHARED of a bad fd (MAP_ANONYMOUS unset) fails with EBADF.
    assert.throws(
      () => libc!.mmap(4096, PROT_READ, 0x01, 12345, 0, "mmap bad fd"),
      (e: unknown) => KvmError.is(e, "EBADF"),
    );
  });

  it("gives a growable zeroed scratch area at a stable native address", () => {
    const s = new Scratch(libc!);
    const v = s.zeroed(16);
    v.setUint32(0, 0xdeadbeef, true);
    const a1 = s.address;
    assert.equal(libc!.koffi.decode.uint32(a1), 0xdeadbeef);
    assert.equal(s.zeroed(16).getUint32(0, true), 0);
    const big = s.zeroed(libc!.pageSize() * 3);
    assert.ok(big.byteLength >= libc!.pageSize() * 3);
    s.release();
    assert.equal(s.address, 0n);
  });
});
