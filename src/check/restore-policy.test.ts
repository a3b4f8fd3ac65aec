import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { COPROC } from "../regs/index.js";
import { checkAbi, checkCompiled, checkLevel } from "./check.js";
import { compileHost } from "./host.js";
import { compileSubject } from "./requirements.js";
import type { RestorePolicy } from "./restore-policy.js";
import { GUESTABI_POLICY, fillError } from "./restore-policy.js";
import { COUNTING, NO_BITMAPS, STRICT } from "./testing/policies.js";
import { n1Profile, savedSnapshot, withReg } from "./testing/sim-profiles.js";

const VENDOR_HYP_BMAP_2 = 0x6030000000160003n;
const VENDOR_HYP_BMAP = 0x6030000000160002n;
const MIDR_EL1 = 0x603000000013c000n;

/** A 6.1 VM that also carries VENDOR_HYP_BMAP_2 (as one saved on 7.2, pinned to 6.1's services does). */
const withBmap2 = () => withReg(savedSnapshot(n1Profile("6.1")), VENDOR_HYP_BMAP_2, 0n);

describe("restore policies: the VMM's rules in check", () => {
  it("fills error templates and leaves unknown placeholders", () => {
    assert.equal(
      fillError("{reg} {id} {errno} {count}/{limit} {other}", {
        reg: "R",
        id: "0x1",
        errno: "ENOENT",
        count: 3,
        limit: 2,
      }),
      "R 0x1 ENOENT 3/2 {other}",
    );
  });

  it("fills any template as a replace of each placeholder would (property)", () => {
    const keys = ["reg", "vmmReg", "id", "errno", "value", "current", "count", "limit"] as const;
    const piece = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.constantFrom(...keys.map((k) => `{${k}}`), "{", "}", "{other}", "{{reg}}"),
    );
    const values = fc.record(
      { reg: fc.string(), id: fc.string(), errno: fc.constant("EINVAL"), count: fc.nat() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }), values, (pieces, v) => {
        const template = pieces.join("");
        const replaced = template.replace(
          /\{(reg|vmmReg|id|errno|value|current|count|limit)\}/g,
          (whole, key: keyof typeof v) => (v[key] === undefined ? whole : String(v[key])),
        );
        assert.equal(fillError(template, v), replaced);
      }),
      { numRuns: 300 },
    );
  });

  it("guestabi skips a register the destination lacks where the guest cannot tell; a strict VMM fails on it with ENOENT", () => {
    const own = checkAbi(withBmap2(), n1Profile("6.1"));
    const skipped = own.verdicts.find((v) => v.register === "KVM_REG_ARM_VENDOR_HYP_BMAP_2");
    assert.equal(skipped?.level, "tolerated");
    assert.deepEqual(own.restore, { vmm: "guestabi", label: "guestabi", loads: true });

    const strict = checkAbi(withBmap2(), n1Profile("6.1"), { vmm: STRICT });
    assert.equal(strict.compatible, false);
    const refused = strict.verdicts.find((v) => v.register === "KVM_REG_ARM_VENDOR_HYP_BMAP_2");
    assert.equal(refused?.level, "incompatible");
    assert.equal(refused?.kind, "missing");
    assert.equal(refused?.vmmError, "set KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003): ENOENT");
    assert.deepEqual(strict.restore, {
      vmm: "strict",
      label: "Strict VMM",
      loads: false,
      register: "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
      error: "set KVM_REG_ARM_VENDOR_HYP_BMAP_2 (0x6030000000160003): ENOENT",
    });
  });

  it("guestabi's restore checks first: any incompatibility refuses it, with the first verdict's reason", () => {
    const r = checkAbi(savedSnapshot(n1Profile("7.2")), n1Profile("6.1"));
    assert.equal(r.compatible, false);
    const first = r.verdicts.find((v) => v.level === "incompatible");
    assert.equal(r.restore.loads, false);
    assert.equal(r.restore.register, first?.register);
    assert.equal(r.restore.error, `${first?.register}: ${first?.reason}`);
  });

  it("a VMM that skips named registers treats those like guestabi", () => {
    const tolerant: RestorePolicy = {
      ...STRICT,
      missing: { ...STRICT.missing, skipped: new Map([["KVM_REG_ARM_VENDOR_HYP_BMAP_2", "its list"]]) },
    };
    const r = checkAbi(withBmap2(), n1Profile("6.1"), { vmm: tolerant });
    assert.equal(r.compatible, true);
    assert.equal(r.restore.loads, true);
  });

  it("a longer saved list fails before any register, with the counts", () => {
    const r = checkAbi(withBmap2(), n1Profile("6.1"), { vmm: COUNTING });
    const listed = savedSnapshot(n1Profile("6.1")).vcpus[0]!.regs.size;
    const cores = [...savedSnapshot(n1Profile("6.1")).vcpus[0]!.regs.keys()].filter(
      (id) => (id >> 16n) % 0x1000n === BigInt(COPROC.core),
    ).length;
    const limit = listed - cores;
    assert.equal(r.restore.register, "VMM");
    assert.equal(r.restore.error, `list of ${limit + 1} > ${limit}`);
    assert.equal(r.verdicts[0]?.kind, "vmm");
    // Equal lists pass the count (and everything else).
    assert.equal(
      checkAbi(savedSnapshot(n1Profile("6.1")), n1Profile("6.1"), { vmm: COUNTING }).restore.loads,
      true,
    );
  });

  it("registers a VMM does not save come back at the destination's reset: a lowered bitmap is lost", () => {
    const s = withReg(savedSnapshot(n1Profile("6.1")), VENDOR_HYP_BMAP, 0n);
    const own = checkAbi(s, n1Profile("6.1"));
    assert.equal(own.compatible, true);
    const lost = checkAbi(s, n1Profile("6.1"), { vmm: NO_BITMAPS });
    const v = lost.verdicts.find((x) => x.register === "KVM_REG_ARM_VENDOR_HYP_BMAP");
    assert.equal(v?.kind, "new");
    assert.equal(v?.level, "incompatible");
    assert.match(
      v?.reason ?? "",
      /it resets to 0x3 \(kvm_arm_init_hypercalls\), the guest saw 0x0 \(the VM's value, which Bitmap-less VMM does not save\) \(gains KVM vendor hypervisor: feature discovery/,
    );
    assert.equal(lost.restore.loads, true); // the restore goes through; the guest sees the change
  });

  it("a feature the VMM never gives fails the vCPU, before any register", () => {
    const s = savedSnapshot(n1Profile("6.1"));
    const pmu = { ...s, vcpus: s.vcpus.map((v) => ({ ...v, init: { ...v.init, features: [2, 3] } })) };
    const own = checkAbi(pmu, n1Profile("6.1"));
    assert.deepEqual(
      own.verdicts.filter((v) => v.kind === "feature").map((v) => [v.field, v.level]),
      [
        ["PSCI_0_2", "ok"],
        ["PMU_V3", "ok"],
      ],
    );
    const r = checkAbi(pmu, n1Profile("6.1"), { vmm: STRICT });
    assert.deepEqual(
      r.verdicts.filter((v) => v.kind === "feature").map((v) => [v.field ?? v.register, v.level]),
      [
        ["KVM_ARM_VCPU_INIT", "incompatible"],
        ["PSCI_0_2", "ok"],
      ],
    );
    assert.deepEqual(r.restore, {
      vmm: "strict",
      label: "Strict VMM",
      loads: false,
      register: "KVM_ARM_VCPU_INIT",
      error: "no PMU_V3 here",
    });
  });

  it("without KVM_CAP_ARM_WRITABLE_IMP_ID_REGS a different MIDR_EL1 is a refused write on 7.2", () => {
    const s = withReg(savedSnapshot(n1Profile("7.2")), MIDR_EL1, 0x410fd0c0n);
    const own = checkAbi(s, n1Profile("7.2"));
    assert.equal(own.verdicts.find((v) => v.register === "MIDR_EL1")?.level, "tolerated");
    const r = checkAbi(s, n1Profile("7.2"), { vmm: STRICT });
    assert.equal(r.verdicts.find((v) => v.register === "MIDR_EL1")?.level, "incompatible");
    assert.equal(r.restore.error, "set MIDR_EL1 (0x603000000013c000): EINVAL");
  });

  it("the fast path gives the full report's level under every policy", () => {
    const subjects = [withBmap2(), savedSnapshot(n1Profile("7.2")), savedSnapshot(n1Profile("6.1"))];
    const hosts = [n1Profile("6.1"), n1Profile("7.2")];
    for (const policy of [GUESTABI_POLICY, STRICT, COUNTING, NO_BITMAPS])
      for (const s of subjects)
        for (const p of hosts) {
          const req = compileSubject(s);
          const host = compileHost(p, undefined, policy);
          const full = checkCompiled(req, host);
          const rank = full.verdicts.some((v) => v.level === "incompatible")
            ? 2
            : full.verdicts.some((v) => v.level === "tolerated")
              ? 1
              : 0;
          assert.equal(checkLevel(req, compileHost(p, undefined, policy)), rank, `${policy.id}`);
        }
  });
});
