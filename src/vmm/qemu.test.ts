import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { RegId } from "../regs/index.js";
import { COPROC, nameOf, sysregId } from "../regs/index.js";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import { fillError } from "../check/restore-policy.js";
import { simProfile } from "../check/testing/sim-profiles.js";
import type { IncomingRegister } from "./qemu.js";
import {
  QEMU_DEFAULT_VERSION,
  QEMU_VERSIONS,
  QemuVersionError,
  hasProperty,
  qemuFacts,
  qemuIncoming,
  qemuPolicy,
  qemuRegisterName,
  qemuVersionOf,
} from "./qemu.js";

const SCTLR = sysregId(3, 0, 1, 0, 0); // 0x603000000013c080
const TCR = sysregId(3, 0, 2, 0, 2); // 0x603000000013c102
const TCR2 = sysregId(3, 0, 2, 0, 3); // 0x603000000013c103
const TTBR0 = sysregId(3, 0, 2, 0, 0); // 0x603000000013c100
const PTIMER_CTL = sysregId(3, 3, 14, 2, 1); // 0x603000000013df11
const CCSIDR0 = 0x6020000000110000n;
const X0 = 0x6030000000100000n; // core register x0
const BMAP_2 = FW_REGS.VENDOR_HYP_BMAP_2;

const regs = (...ids: RegId[]): IncomingRegister[] => ids.map((id, k) => ({ id, value: BigInt(k + 1) }));
const n1 = (gen: "6.1" | "7.2") => simProfile(gen, "neoverse-n1", ["psci-0.2", "psci-0.2+pmu"]);
/** The psci-0.2 configuration's list and reset values, as a stream and as a destination list. */
function listOf(gen: "6.1" | "7.2"): IncomingRegister[] {
  const c = n1(gen).configs.find((x) => x.name === "psci-0.2")!;
  return c.reset!.map(([id, v]) => ({ id, value: typeof v === "bigint" ? v : 0n }));
}

describe("QEMU versions", () => {
  it("knows 7.2, 10.0 and 11.1; `qemu` alone is the newest; an unknown version names the known ones", () => {
    assert.deepEqual(QEMU_VERSIONS, ["7.2", "10.0", "11.1"]);
    assert.equal(QEMU_DEFAULT_VERSION, "11.1");
    assert.equal(qemuPolicy().id, "qemu@11.1");
    assert.equal(qemuVersionOf("qemu"), "11.1");
    assert.equal(qemuVersionOf("qemu@10.0"), "10.0");
    assert.equal(qemuVersionOf("firecracker"), undefined);
    assert.throws(
      () => qemuPolicy("9.2"),
      (e: unknown) =>
        e instanceof QemuVersionError && e.message === "unknown QEMU version '9.2' (known: 7.2, 10.0, 11.1)",
    );
    assert.throws(() => qemuVersionOf("qemu@8"), QemuVersionError);
  });

  it("ids, labels and Debian packages", () => {
    assert.deepEqual(
      QEMU_VERSIONS.map((v) => [qemuPolicy(v).id, qemuPolicy(v).label, qemuFacts(v).debian.package]),
      [
        ["qemu@7.2", "QEMU 7.2", "1:7.2+dfsg-7+deb12u18"],
        ["qemu@10.0", "QEMU 10.0", "1:10.0.13+ds-0+deb13u1"],
        ["qemu@11.1", "QEMU 11.1", "1:11.1.3+ds-1"],
      ],
    );
    assert.deepEqual(
      QEMU_VERSIONS.map((v) => qemuFacts(v).evidence),
      ["source", "source", "binary"],
    );
  });

  it("7.2 aborts on a register the destination lacks, with no line naming it; 10.0 goes on (measured)", () => {
    const p72 = qemuPolicy("7.2");
    assert.equal(p72.missing.action, "abort");
    assert.equal(p72.missing.examined, "below-destination-last");
    assert.equal(
      p72.missing.error,
      "error while loading state for instance 0x0 of device 'cpu' | load of migration failed: Operation not permitted",
    );
    assert.equal(p72.refused.error, p72.missing.error);
    const p100 = qemuPolicy("10.0");
    assert.equal(p100.missing.action, "skip");
    assert.equal(
      p100.refused.error,
      "error while loading state for instance 0x0 of device 'cpu' | Failed to put registers after init: Invalid argument",
    );
    for (const p of [p72, p100]) assert.equal(p.writableImpIdRegs, false);
  });

  it("7.2 and 10.0 count every register but the core and SVE ones: cpreg_vmstate_array_len", () => {
    for (const v of ["7.2", "10.0"]) {
      const c = qemuPolicy(v).count!;
      assert.deepEqual(c.excludedCoprocs, [COPROC.core, COPROC.sve]);
      assert.equal(
        fillError(c.error, { count: 182, limit: 167 }),
        "Invalid value 182 expecting positive value <= 167 | Failed to load cpu:cpreg_vmstate_array_len | error while loading state for instance 0x0 of device 'cpu' | load of migration failed: Invalid argument",
      );
    }
  });

  it("11.1: no count rule; an unknown register does not end the load; the tolerance list by catalog names", () => {
    const p = qemuPolicy("11.1");
    assert.equal(p.count, undefined);
    // Named "fail migration", yet the load goes on (lab/qemu/results.json): left out, judged by the guest view.
    assert.equal(p.missing.action, "skip");
    assert.equal(
      fillError(p.refused.error, {
        vmmReg: qemuRegisterName(FW_REGS.PSCI_VERSION),
        value: "10003",
        current: "10001",
      }),
      "Could not set register fw reg 0 to 10003 (is 10001) | Failed to put registers after init: Invalid argument",
    );
    // The tolerance list by the catalog's names, VENDOR_HYP_BMAP_2 only while 0.
    assert.deepEqual(
      qemuFacts("11.1").merge.tolerances.map((t) => [t.reg, nameOf(t.id).name, t.kind, t.mask, t.value]),
      [
        ["TCR2_EL1", "TCR2_EL1", "either-side", 0n, 0n],
        ["PIRE0_EL1", "PIRE0_EL1", "either-side", 0n, 0n],
        ["PIR_EL1", "PIR_EL1", "either-side", 0n, 0n],
        [
          "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
          "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
          "source-value",
          0xffffffffffffffffn,
          0n,
        ],
      ],
    );
  });

  it("kvm-psci-version only in 11.1; no x-mig-* or SYSREG_* property in any version", () => {
    assert.deepEqual(
      QEMU_VERSIONS.map((v) => hasProperty(qemuFacts(v), "kvm-psci-version")),
      [false, false, true],
    );
    assert.deepEqual(qemuFacts("11.1").properties.find((p) => p.name === "kvm-psci-version")!.values, [
      "0.1",
      "0.2",
      "1.0",
      "1.1",
      "1.2",
      "1.3",
    ]);
    for (const v of QEMU_VERSIONS)
      assert.deepEqual(
        qemuFacts(v).properties.filter((p) => /^x-mig|^SYSREG_/.test(p.name)),
        [],
      );
  });

  it("HAS_EL2: never requested by 7.2 and 10.0; 11.1 requests it with virtualization=on", () => {
    const refused = (v: string) => qemuPolicy(v).refusedFeatures.map((f) => f.feature);
    assert.deepEqual(refused("7.2"), [VCPU_FEATURES.HAS_EL2, VCPU_FEATURES.HAS_EL2_E2H0]);
    assert.deepEqual(refused("10.0"), [VCPU_FEATURES.HAS_EL2, VCPU_FEATURES.HAS_EL2_E2H0]);
    assert.deepEqual(refused("11.1"), [VCPU_FEATURES.HAS_EL2_E2H0]);
    assert.equal(
      qemuPolicy("10.0").refusedFeatures[0]!.error,
      "mach-virt: KVM does not support providing Virtualization extensions to the guest CPU",
    );
  });

  it("what -cpu host requests, and the two counters written only at full state", () => {
    const requested = (v: string) => qemuFacts(v).requests.map((r) => r.feature);
    const { PSCI_0_2, PMU_V3, SVE, PTRAUTH_ADDRESS, PTRAUTH_GENERIC, EL1_32BIT, HAS_EL2 } = VCPU_FEATURES;
    assert.deepEqual(requested("7.2"), [PSCI_0_2, PMU_V3, SVE, PTRAUTH_ADDRESS, PTRAUTH_GENERIC, EL1_32BIT]);
    assert.deepEqual(requested("10.0"), requested("7.2"));
    assert.deepEqual(requested("11.1"), [...requested("7.2"), HAS_EL2]);
    assert.equal(qemuFacts("11.1").requests[0]!.when, "KVM_CAP_ARM_PSCI_0_2, unless kvm-psci-version=0.1");
    for (const v of QEMU_VERSIONS)
      assert.deepEqual(
        qemuFacts(v).fullStateOnly.map((id) => nameOf(id).name),
        ["KVM_REG_ARM_TIMER_CNT", "KVM_REG_ARM_PTIMER_CNT"],
      );
  });

  it("names registers as kvm_print_register_name does", () => {
    assert.equal(qemuRegisterName(SCTLR), "system register op0:3 op1:0 crn:1 crm:0 op2:0");
    assert.equal(qemuRegisterName(CCSIDR0), "demuxed reg 6020000000110000");
    assert.equal(qemuRegisterName(FW_REGS.PSCI_VERSION), "fw reg 0");
    assert.equal(qemuRegisterName(BMAP_2), "fw feat reg 3");
  });
});

describe("qemuIncoming", () => {
  it("7.2/10.0: a longer stream fails on cpreg_vmstate_array_len (Neoverse-N1, 7.2 kernel -> 6.1 kernel)", () => {
    for (const v of ["7.2", "10.0"] as const) {
      const r = qemuIncoming(v, listOf("7.2"), { ids: listOf("6.1").map((x) => x.id) });
      assert.equal(r.loads, false);
      assert.equal(r.cause, "count");
      assert.deepEqual(r.stderr, [
        "qemu-system-aarch64: Invalid value 182 expecting positive value <= 167",
        "qemu-system-aarch64: Failed to load cpu:cpreg_vmstate_array_len",
        "qemu-system-aarch64: error while loading state for instance 0x0 of device 'cpu'",
        "qemu-system-aarch64: load of migration failed: Invalid argument",
      ]);
    }
  });

  it("6.1 kernel -> 7.2 kernel loads: the 7.2 host's extra registers keep their reset values (11.1 warns)", () => {
    const dest = { ids: listOf("7.2").map((x) => x.id) };
    const r72 = qemuIncoming("7.2", listOf("6.1"), dest);
    assert.equal(r72.loads, true);
    assert.deepEqual(r72.stderr, []);
    assert.deepEqual(
      r72.destinationOnly.map((id) => nameOf(id).name),
      [
        ...[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13].map((k) => `CCSIDR[${k}]`),
        "KVM_REG_ARM_PTIMER_CNT",
        "KVM_REG_ARM_PTIMER_CTL",
        "KVM_REG_ARM_PTIMER_CVAL",
        "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
      ],
    );
    const r111 = qemuIncoming("11.1", listOf("6.1"), dest);
    assert.equal(r111.loads, true);
    assert.equal(r111.stderr.length, 15);
    assert.equal(
      r111.stderr[0],
      "qemu-system-aarch64: warning: handle_cpreg_missing_in_incoming_stream: demuxed reg 6020000000110003 expected by the destination but not in the incoming stream: skip it",
    );
    assert.equal(
      r111.stderr[14],
      "qemu-system-aarch64: warning: handle_cpreg_missing_in_incoming_stream: fw feat reg 3 expected by the destination but not in the incoming stream: skip it",
    );
  });

  it("7.2/10.0: a stream register below the destination's last fails the load; one above it is dropped unseen", () => {
    const below = qemuIncoming("7.2", regs(SCTLR, TTBR0, TCR), { ids: [SCTLR, TCR, CCSIDR0] });
    assert.equal(below.loads, false);
    assert.equal(below.cause, "stream-only");
    assert.deepEqual(below.streamOnly, [{ id: TTBR0, outcome: "refused" }]);
    assert.deepEqual(below.stderr, [
      "qemu-system-aarch64: error while loading state for instance 0x0 of device 'cpu'",
      "qemu-system-aarch64: load of migration failed: Operation not permitted",
    ]);
    // BMAP_2 has the largest id of all: the loop ends with the destination's list before reaching it.
    const above = qemuIncoming("10.0", regs(SCTLR, TCR, BMAP_2), { ids: [SCTLR, TTBR0, TCR] });
    assert.equal(above.loads, true);
    assert.deepEqual(above.streamOnly, [{ id: BMAP_2, outcome: "unexamined" }]);
    assert.deepEqual(above.destinationOnly, [TTBR0]);
    assert.deepEqual(above.stderr, []);
  });

  it("11.1 names each unknown register, unless it is tolerated, and the load goes on (measured)", () => {
    const r = qemuIncoming("11.1", regs(SCTLR, PTIMER_CTL), { ids: [SCTLR] });
    assert.equal(r.loads, true);
    assert.deepEqual(r.stderr, [
      "qemu-system-aarch64: handle_cpreg_only_in_incoming_stream: system register op0:3 op1:3 crn:14 crm:2 op2:1 in the incoming stream but unknown on the destination: fail migration",
    ]);
    // TCR2_EL1 either side, any value, nothing printed; VENDOR_HYP_BMAP_2 only while 0.
    const tol = qemuIncoming("11.1", [...regs(SCTLR, TCR2), { id: BMAP_2, value: 0n }], { ids: [SCTLR] });
    assert.equal(tol.loads, true);
    assert.deepEqual(tol.stderr, []);
    const on = qemuIncoming("11.1", [...regs(SCTLR), { id: BMAP_2, value: 1n }], { ids: [SCTLR] });
    assert.deepEqual(on.streamOnly, [{ id: BMAP_2, outcome: "refused" }]);
    assert.equal(
      on.stderr[0],
      "qemu-system-aarch64: handle_cpreg_only_in_incoming_stream: fw feat reg 3 in the incoming stream but unknown on the destination: fail migration",
    );
    // A destination without TCR2_EL1 is not warned about (ToleranceNotOnBothEnds).
    const dest = qemuIncoming("11.1", regs(SCTLR), { ids: [SCTLR, TCR2, TTBR0] });
    assert.deepEqual(dest.stderr, [
      "qemu-system-aarch64: warning: handle_cpreg_missing_in_incoming_stream: system register op0:3 op1:0 crn:2 crm:0 op2:0 expected by the destination but not in the incoming stream: skip it",
    ]);
  });

  it("11.1: the last unknown register decides (cpu_post_load assigns each handler's verdict)", () => {
    // PTIMER_CTL refused, then VENDOR_HYP_BMAP_2 (0) tolerated last: the refusal is printed, the load goes on.
    const masked = qemuIncoming("11.1", [...regs(SCTLR, PTIMER_CTL), { id: BMAP_2, value: 0n }], {
      ids: [SCTLR],
    });
    assert.equal(masked.loads, true);
    assert.deepEqual(masked.streamOnly, [
      { id: PTIMER_CTL, outcome: "refused" },
      { id: BMAP_2, outcome: "tolerated" },
    ]);
    assert.deepEqual(masked.stderr, [
      "qemu-system-aarch64: handle_cpreg_only_in_incoming_stream: system register op0:3 op1:3 crn:14 crm:2 op2:1 in the incoming stream but unknown on the destination: fail migration",
    ]);
    // 7.2 fails on the first.
    assert.equal(qemuIncoming("7.2", [...regs(SCTLR, PTIMER_CTL)], { ids: [SCTLR, BMAP_2] }).loads, false);
  });

  it("a refused write: 7.2 says nothing about it, 11.1 names the register and the values", () => {
    const stream = [{ id: FW_REGS.PSCI_VERSION, value: 0x10003n }];
    const write = () => ({ errno: "EINVAL" as const, current: 0x10001n });
    const r72 = qemuIncoming("7.2", stream, { ids: [FW_REGS.PSCI_VERSION], write });
    assert.equal(r72.cause, "refused-write");
    assert.deepEqual(r72.stderr, [
      "qemu-system-aarch64: error while loading state for instance 0x0 of device 'cpu'",
      "qemu-system-aarch64: load of migration failed: Operation not permitted",
    ]);
    const r111 = qemuIncoming("11.1", stream, { ids: [FW_REGS.PSCI_VERSION], write });
    assert.deepEqual(r111.refused, [FW_REGS.PSCI_VERSION]);
    assert.deepEqual(r111.stderr, [
      "qemu-system-aarch64: Could not set register fw reg 0 to 10003 (is 10001)",
      "qemu-system-aarch64: Failed to put registers after init: Invalid argument",
    ]);
    const line = (
      id: RegId,
      value: bigint,
      answer: { errno: "ENOENT" | "EINVAL" | "EBUSY"; current?: bigint },
    ) => qemuIncoming("11.1", [{ id, value }], { ids: [id], write: () => answer }).stderr[0];
    assert.equal(
      line(CCSIDR0, 0x1701fe01an, { errno: "EINVAL", current: 2n }),
      "qemu-system-aarch64: Could not set register demuxed reg 6020000000110000 to 701fe01a (is 2)",
    );
    assert.equal(
      line(SCTLR, 5n, { errno: "EINVAL" }),
      "qemu-system-aarch64: Could not set register system register op0:3 op1:0 crn:1 crm:0 op2:0 to 5",
    );
    assert.equal(
      line(SCTLR, 5n, { errno: "ENOENT" }),
      "qemu-system-aarch64: Could not set register system register op0:3 op1:0 crn:1 crm:0 op2:0: unknown to KVM",
    );
    assert.equal(
      line(SCTLR, 5n, { errno: "EBUSY" }),
      "qemu-system-aarch64: Could not set register system register op0:3 op1:0 crn:1 crm:0 op2:0: Device or resource busy",
    );
  });

  it("core and SVE registers travel outside the cpreg list: neither counted nor matched", () => {
    const r = qemuIncoming("7.2", regs(X0, SCTLR, 0x6080000000150000n), { ids: [SCTLR] });
    assert.equal(r.loads, true);
    assert.deepEqual(r.streamOnly, []);
  });
});
