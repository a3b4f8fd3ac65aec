import assert from "node:assert/strict";
import os from "node:os";
import { describe, it } from "node:test";
import { ERRNO, KvmError, KvmUnavailableError, errnoName, errnoNumber } from "./errors.js";
import { headerDefines, readKsrc } from "./testing/ksrc.js";

describe("errno table", () => {
  it("maps names and numbers both ways", () => {
    assert.equal(errnoName(22), "EINVAL");
    assert.equal(errnoName(7), "E2BIG");
    assert.equal(errnoName(8), "ENOEXEC");
    assert.equal(errnoName(524), "ENOTSUPP");
    assert.equal(errnoName(4095), "E4095");
    assert.equal(errnoNumber("ENXIO"), 6);
    assert.equal(errnoNumber("E4095"), 4095);
    assert.throws(() => errnoNumber("EWHAT" as never), RangeError);
  });

  it(
    "agrees with this host's errno numbers on Linux",
    { skip: process.platform !== "linux" && "not Linux" },
    () => {
      const host = os.constants.errno as Record<string, number>;
      for (const [name, n] of Object.entries(ERRNO)) if (name in host) assert.equal(host[name], n, name);
    },
  );

  const base = readKsrc("7.2", "include/uapi/asm-generic/errno-base.h");
  const more = readKsrc("7.2", "include/uapi/asm-generic/errno.h");
  it("agrees with asm-generic/errno*.h", { skip: !(base && more) && "no 7.2 tree" }, () => {
    const defs = new Map([...headerDefines(base!), ...headerDefines(more!)]);
    for (const [name, n] of Object.entries(ERRNO)) {
      if (name === "ENOTSUPP") continue; // kernel-internal, include/linux/errno.h
      assert.equal(defs.get(name), String(n), name);
    }
  });
});

describe("KvmError", () => {
  it("carries the errno name, number and operation in a one-line message", () => {
    const e = new KvmError("KVM_SET_ONE_REG 0x6030000000140000", 22);
    assert.equal(e.errno, "EINVAL");
    assert.equal(e.code, 22);
    assert.equal(e.op, "KVM_SET_ONE_REG 0x6030000000140000");
    assert.equal(e.message, "KVM_SET_ONE_REG 0x6030000000140000: EINVAL (invalid argument)");
    assert.equal(e.name, "KvmError");
    assert.ok(!e.message.includes("\n"));
    assert.ok(e instanceof Error);
  });

  it("accepts a name, and carries KVM_GET_REG_LIST's required count on E2BIG", () => {
    const e = new KvmError("KVM_GET_REG_LIST n=0", "E2BIG", { required: 512 });
    assert.equal(e.code, 7);
    assert.equal(e.required, 512);
    assert.ok(KvmError.is(e, "E2BIG"));
    assert.ok(KvmError.is(e));
    assert.ok(!KvmError.is(e, "EINVAL", "ENOENT"));
    assert.ok(!KvmError.is(new Error("x")));
    assert.equal(new KvmError("op", 9999).message, "op: E9999");
    assert.equal(
      new KvmError("op", "EBADF", { detail: "already closed" }).message,
      "op: EBADF (bad file descriptor); already closed",
    );
  });

  it("withoutStack: the same error, its stack only the message line; the stack limit is restored", () => {
    const limit = Error.stackTraceLimit;
    const e = KvmError.withoutStack("KVM_GET_REG_LIST", "E2BIG", { required: 257, detail: "n=0" });
    assert.ok(e instanceof KvmError);
    assert.equal(e.errno, "E2BIG");
    assert.equal(e.code, 7);
    assert.equal(e.op, "KVM_GET_REG_LIST");
    assert.equal(e.required, 257);
    assert.equal(e.message, "KVM_GET_REG_LIST: E2BIG (argument list too long); n=0");
    assert.equal(e.stack, "KvmError: KVM_GET_REG_LIST: E2BIG (argument list too long); n=0");
    assert.equal(Error.stackTraceLimit, limit);
    assert.match(new KvmError("op", "EINVAL").stack ?? "", /\n\s+at /);
  });

  it("keeps unavailability apart, with a reason", () => {
    const e = new KvmUnavailableError("arch", "guestabi's KVM backend needs an arm64 host; this is x64");
    assert.equal(e.reason, "arch");
    assert.equal(e.name, "KvmUnavailableError");
    assert.ok(!(e instanceof KvmError));
  });
});
