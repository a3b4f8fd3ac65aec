import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KVM_RUN_LAYOUT, decodeKvmRunExit, writeMmioReadData } from "./kvm-run.js";

// Offsets as gcc's offsetof() gives them for the 5.10/6.1/6.12/7.2 headers (written out, not imported).
function run(exitReason: number, fill: (v: DataView) => void): DataView {
  const v = new DataView(new ArrayBuffer(4096));
  v.setUint32(8, exitReason, true);
  fill(v);
  return v;
}

describe("struct kvm_run", () => {
  it("has the layout of the uapi header", () => {
    assert.equal(KVM_RUN_LAYOUT.exitReason, 8);
    assert.equal(KVM_RUN_LAYOUT.mmio.physAddr, 32);
    assert.equal(KVM_RUN_LAYOUT.hypercall.flags, 96);
    assert.equal(KVM_RUN_LAYOUT.validRegs, 288);
    assert.equal(KVM_RUN_LAYOUT.size, 2352);
  });

  it("decodes an MMIO write", () => {
    const v = run(6, (v) => {
      v.setBigUint64(32, 0x10000108n, true);
      v.setBigUint64(40, 0x1122334455667788n, true);
      v.setUint32(48, 8, true);
      v.setUint8(52, 1);
    });
    const e = decodeKvmRunExit(v);
    assert.equal(e.reason, "MMIO");
    assert.ok(e.reason === "MMIO");
    assert.equal(e.address, 0x10000108n);
    assert.equal(e.isWrite, true);
    assert.equal(e.length, 8);
    assert.deepEqual([...e.data], [0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
  });

  it("decodes an MMIO read with zero data, and takes read data", () => {
    const v = run(6, (v) => {
      v.setBigUint64(32, 0x9000000n, true);
      v.setUint32(48, 4, true);
      v.setUint8(52, 0);
      v.setUint32(40, 0xdeadbeef, true);
    });
    const e = decodeKvmRunExit(v);
    assert.ok(e.reason === "MMIO");
    assert.equal(e.isWrite, false);
    assert.deepEqual([...e.data], [0, 0, 0, 0]);
    writeMmioReadData(v, Uint8Array.of(1, 2, 3, 4));
    assert.equal(v.getBigUint64(40, true), 0x04030201n);
    writeMmioReadData(v, new Uint8Array(0));
    assert.equal(v.getBigUint64(40, true), 0n);
    assert.throws(() => writeMmioReadData(v, new Uint8Array(9)), RangeError);
  });

  it("decodes a forwarded SMCCC call (KVM_EXIT_HYPERCALL)", () => {
    const v = run(3, (v) => {
      v.setBigUint64(32, 0xc6000040n, true);
      v.setBigUint64(96, 1n, true);
    });
    const e = decodeKvmRunExit(v);
    assert.ok(e.reason === "HYPERCALL");
    assert.equal(e.functionId, 0xc6000040);
    assert.equal(e.conduit, "smc");
    assert.equal(e.is16bit, false);
    assert.equal(e.args.length, 6);
    const h = decodeKvmRunExit(run(3, (v) => v.setBigUint64(32, 0x84000000n, true)));
    assert.ok(h.reason === "HYPERCALL" && h.conduit === "hvc");
  });

  it("decodes SYSTEM_EVENT with ndata (5.18+) and without (5.10: flags only)", () => {
    const modern = decodeKvmRunExit(
      run(24, (v) => {
        v.setUint32(32, 2, true);
        v.setUint32(36, 2, true);
        v.setBigUint64(40, 1n, true);
        v.setBigUint64(48, 7n, true);
      }),
    );
    assert.ok(modern.reason === "SYSTEM_EVENT");
    assert.equal(modern.event, "RESET");
    assert.deepEqual(modern.data, [1n, 7n]);
    assert.equal(modern.flags, 1n);
    const old = decodeKvmRunExit(run(24, (v) => v.setUint32(32, 1, true)));
    assert.ok(old.reason === "SYSTEM_EVENT");
    assert.equal(old.event, "SHUTDOWN");
    assert.deepEqual(old.data, [0n]);
    const odd = decodeKvmRunExit(run(24, (v) => v.setUint32(32, 99, true)));
    assert.ok(odd.reason === "SYSTEM_EVENT" && odd.event === "UNRECOGNIZED");
  });

  it("decodes the other arm64 exits it knows", () => {
    const nisv = decodeKvmRunExit(
      run(28, (v) => {
        v.setBigUint64(32, 0x93c08006n, true);
        v.setBigUint64(40, 0x9000000n, true);
      }),
    );
    assert.deepEqual(nisv, { reason: "ARM_NISV", code: 28, esrIss: 0x93c08006n, faultIpa: 0x9000000n });
    const ie = decodeKvmRunExit(
      run(17, (v) => {
        v.setUint32(32, 1, true);
        v.setUint32(36, 1, true);
        v.setBigUint64(40, 42n, true);
      }),
    );
    assert.deepEqual(ie, { reason: "INTERNAL_ERROR", code: 17, suberror: 1, data: [42n] });
    const fe = decodeKvmRunExit(
      run(9, (v) => {
        v.setBigUint64(32, 1n, true);
        v.setUint32(40, 3, true);
      }),
    );
    assert.deepEqual(fe, { reason: "FAIL_ENTRY", code: 9, hardwareEntryFailureReason: 1n, cpu: 3 });
    const dbg = decodeKvmRunExit(
      run(4, (v) => {
        v.setUint32(32, 0xf2000000, true);
        v.setBigUint64(40, 0x1234n, true);
      }),
    );
    assert.deepEqual(dbg, { reason: "DEBUG", code: 4, hsr: 0xf2000000, hsrHigh: 0, far: 0x1234n });
    assert.deepEqual(decodeKvmRunExit(run(0, (v) => v.setBigUint64(32, 5n, true))), {
      reason: "UNKNOWN",
      code: 0,
      hardwareExitReason: 5n,
    });
  });

  it("names the rest by reason, or UNRECOGNIZED", () => {
    assert.deepEqual(decodeKvmRunExit(run(10, () => {})), { reason: "INTR", code: 10 });
    assert.deepEqual(decodeKvmRunExit(run(8, () => {})), { reason: "SHUTDOWN", code: 8 });
    assert.deepEqual(decodeKvmRunExit(run(200, () => {})), { reason: "UNRECOGNIZED", code: 200 });
  });
});
