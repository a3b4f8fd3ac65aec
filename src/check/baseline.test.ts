import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import { baseline } from "./baseline.js";
import { checkAbi } from "./check.js";
import { formatTemplateJson, parseTemplateJson } from "../formats/template.js";
import { n1Profile, simProfile } from "./testing/sim-profiles.js";

const p61 = () => n1Profile("6.1");
const p72 = () => n1Profile("7.2");
const p72a72 = () => simProfile("7.2", "cortex-a72", ["psci-0.2"]);
const p510 = () => simProfile("5.10", "neoverse-n1", ["psci-0.2"]);
const p612max = () => simProfile("6.12", "max");

const hex = (v: bigint | undefined) => (v === undefined ? "absent" : "0x" + v.toString(16));
const now = () => new Date("2030-01-01T00:00:00.000Z");

describe("baseline", () => {
  it("6.1 + 7.2 on Neoverse-N1: the lower PSCI, workaround levels and ID fields; nothing unhonourable", () => {
    const b = baseline([p61(), p72()], { now });
    const t = b.template;
    assert.deepEqual(t.features, [VCPU_FEATURES.PSCI_0_2, VCPU_FEATURES.PMU_V3]);
    assert.deepEqual(Object.fromEntries([...t.firmware].map(([id, v]) => [id.toString(16), hex(v)])), {
      "6030000000140000": "0x10001", // PSCI 1.1: the newest both accept
      "6030000000140001": "0x2", // WORKAROUND_1 NOT_REQUIRED on both
      "6030000000140002": "0x0",
      "6030000000140003": "0x1",
      "6030000000160000": "0x1", // TRNG
      "6030000000160001": "0x1", // PV time
      "6030000000160002": "0x3", // KVM vendor: features, PTP
      "6030000000160003": "0x0", // 7.2's VENDOR_HYP_BMAP_2: 6.1's guest view has none of its services
    });
    // ID_AA64DFR0_EL1: DebugVer lowerSafe (KVM's policy) -> 6.1's 6, not 7.2's 8.
    assert.equal(hex(t.idRegs.get(0x603000000013c028n)), "0x10305406");
    assert.deepEqual(b.unhonourable, []);
    // The cache geometry both honour: 6.1's host geometry (L1 I/D, unified L2), which 7.2 accepts.
    assert.equal(hex(t.idRegs.get(0x603000000013c801n)), "0x82000023"); // CLIDR_EL1: 6.1's, not 7.2's 0x2000021
    assert.deepEqual(Object.fromEntries([...(t.ccsidr ?? [])].map(([sel, v]) => [sel, hex(v)])), {
      0: "0x701fe01a",
      1: "0x201fe01a",
      2: "0x70ffe03a",
    });
    assert.deepEqual(
      b.giveUps.map((g) => [
        g.host,
        g.verdicts.map((v) => `${v.level} ${v.register}${v.field ? "." + v.field : ""}`),
      ]),
      [
        [
          "6.1.0-sim-arm64 (neoverse-n1)",
          // the template's CTR_EL0 is both hosts' register (0x9444c004), but 6.1's guest reads the CPU's own
          ["tolerated KVM_REG_ARM_VENDOR_HYP_BMAP_2", "tolerated CTR_EL0"],
        ],
        [
          "7.2.0-sim-arm64 (neoverse-n1)",
          [
            "tolerated KVM_REG_ARM_PTIMER_CNT",
            "tolerated KVM_REG_ARM_PTIMER_CTL",
            "tolerated KVM_REG_ARM_PTIMER_CVAL",
            "tolerated KVM_REG_ARM_PSCI_VERSION",
            // 6.1's cache geometry (invariant there), which 7.2 takes (set_clidr, set_ccsidr)
            "tolerated CLIDR_EL1",
            "tolerated ID_AA64DFR0_EL1",
            "tolerated ID_AA64DFR0_EL1.DebugVer",
            "tolerated CCSIDR[0]",
            "tolerated CCSIDR[1]",
            "tolerated CCSIDR[2]",
          ],
        ],
      ],
    );
    assert.deepEqual(
      b.reports!.map((r) => r.compatible),
      [true, true],
    );
    assert.equal(t.provenance.createdAt, "2030-01-01T00:00:00.000Z");
    // The template survives its JSON form.
    assert.deepEqual(parseTemplateJson(formatTemplateJson(t)).idRegs, t.idRegs);
  });

  it("CTR_EL0: 6.1 gives it up (its guest reads the CPU's own, IDC 0); check says the same, with or without the source's view", () => {
    const CTR_EL0 = 0x603000000013d801n;
    const b = baseline([p61(), p72()], { now });
    // Both kernels' KVM_GET_ONE_REG shows the sanitised value (IDC 1): the only one 6.1 takes (invariant).
    assert.equal(hex(b.template.idRegs.get(CTR_EL0)), "0x9444c004");
    const ctrVerdicts = (vs: readonly { register: string; level: string; reason: string }[]) =>
      vs.filter((v) => v.register === "CTR_EL0" && v.level !== "ok").map((v) => [v.level, v.reason]);
    const on61 = [
      "tolerated",
      "the guest reads this CPU's own CTR_EL0 here, 0x8444c004, not 0x9444c004 (IDC differs): the read does not trap (no HCR_EL2.TID2: vcpu_reset_hcr), so no register value pins it",
    ];
    assert.deepEqual(ctrVerdicts(b.giveUps[0]!.verdicts), [on61]);
    assert.deepEqual(ctrVerdicts(b.giveUps[1]!.verdicts), []); // 7.2 (no FEAT_EVT on N1) traps: the register
    assert.deepEqual(ctrVerdicts(checkAbi(b.template, p61()).verdicts), [on61]);
    // Coming from 6.1, whose guest read 0x8444c004, to 7.2, whose guest reads the register.
    assert.deepEqual(ctrVerdicts(checkAbi(b.template, p72(), { sourceProfile: p61() }).verdicts), [
      [
        "tolerated",
        "the guest reads the VM's register here (HCR_EL2.TID2: vcpu_set_hcr), 0x9444c004, but the source's guest read 0x8444c004 (IDC differs)",
      ],
    ]);
    // Between two 6.1 hosts the guest reads the same CPU value: nothing to say.
    assert.deepEqual(ctrVerdicts(checkAbi(b.template, p61(), { sourceProfile: p61() }).verdicts), []);
  });

  it("one host: its own values, nothing given up", () => {
    const b = baseline([p72()]);
    assert.deepEqual(b.giveUps, [{ host: "7.2.0-sim-arm64 (neoverse-n1)", verdicts: [] }]);
    assert.equal(b.template.firmware.get(FW_REGS.PSCI_VERSION), 0x10003n);
  });

  it("Neoverse-N1 + Cortex-A72 on 7.2: lowerSafe fields take the lower value; fields no kernel lets differ are unhonourable", () => {
    const b = baseline([p72(), p72a72()]);
    assert.deepEqual(b.template.features, [VCPU_FEATURES.PSCI_0_2]);
    assert.equal(hex(b.template.idRegs.get(0x603000000013c030n)), "0x11120"); // ID_AA64ISAR0_EL1: A72's
    assert.equal(b.template.firmware.get(FW_REGS.SMCCC_ARCH_WORKAROUND_1), 0n); // the lower level
    assert.deepEqual(
      b.unhonourable.map((v) => `${v.host}: ${v.register}.${v.field}`),
      [
        "7.2.0-sim-arm64 (cortex-a72): ID_AA64PFR0_EL1.FP",
        "7.2.0-sim-arm64 (cortex-a72): ID_AA64PFR0_EL1.AdvSIMD",
        "7.2.0-sim-arm64 (cortex-a72): ID_AA64MMFR1_EL1.VMIDBits",
        "7.2.0-sim-arm64 (cortex-a72): ID_AA64MMFR1_EL1.VH",
        "7.2.0-sim-arm64 (cortex-a72): ID_AA64MMFR1_EL1.XNX",
      ],
    );
    assert.match(
      b.unhonourable[0]!.reason,
      /^no single value suits every host \(7\.2\.0-sim-arm64 \(neoverse-n1\): 0x1, 7\.2\.0-sim-arm64 \(cortex-a72\): 0x0\); this host cannot be made to show 0x1 \(arm64_check_features refuses it\)$/,
    );
    // The PMU configuration the A72 profile lacks is a give-up of the N1 host.
    assert.equal(b.giveUps[0]!.verdicts[0]!.field, "PMU_V3");
  });

  it("never fails its own check except where it says so (random subsets of profiles)", () => {
    const pool = [p510(), p61(), p72(), p72a72(), p612max()];
    fc.assert(
      fc.property(fc.subarray([0, 1, 2, 3, 4], { minLength: 1 }), (picked) => {
        const hosts = picked.map((k) => pool[k]!);
        const b = baseline(hosts);
        const covered = new Set(b.unhonourable.map((v) => `${v.host}|${v.register}`));
        hosts.forEach((h, k) => {
          const r = checkAbi(b.template, h);
          assert.equal(r.host, b.giveUps[k]!.host);
          for (const v of r.verdicts)
            if (v.level === "incompatible")
              assert.ok(
                covered.has(`${r.host}|${v.register}`),
                `${r.host}: ${v.register} ${v.field ?? ""}: ${v.reason}`,
              );
          if (b.unhonourable.length === 0) assert.equal(r.compatible, true);
        });
      }),
      { numRuns: 25 },
    );
  });

  it("SVE: the vector lengths every host has (set_sve_vls)", () => {
    const max = p612max();
    const b = baseline([max, simProfile("7.2", "max")]);
    assert.ok(b.template.features.includes(VCPU_FEATURES.SVE));
    assert.deepEqual(b.template.sveVqs, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]);
  });
});
