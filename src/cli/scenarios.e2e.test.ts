/**
 * The scenarios of the "KVM/arm64: Guest ABI changes do not appear rollback-safe" thread, end to end on
 * the simulator, through the library and through the built CLI, with the expected outcomes written out.
 *
 * 1. A VM started with 7.2's defaults, restored on 6.1: refused, with the reasons listed (PSCI 1.3, and
 *    the cache geometry: 6.1 shows the host's CLIDR/CCSIDR and cannot change them; 6.3+ synthesizes them).
 * 2. The same VM pinned to a baseline, migrating both ways:
 *    - of 6.1 and 7.2: no such baseline exists (unhonourable: 6.1's invariant CCSIDR, 7.2's CSSELR_MAX
 *      CCSIDR entries, which an ABI template cannot carry), so the check refuses the pin on 7.2 and each
 *      direction's migration — the reasons written out below;
 *    - of 6.12 and 7.2 (both after 6.3's cache normalisation): migrates both ways; the guest ABI
 *      fingerprint is identical before and after each round trip, and even across the two kernels.
 * 3. A guest that discovered KVM_PTP, moved to a host that does not offer it (5.10): refused, PTP named;
 *    a VM pinned with PTP hidden keeps it hidden across a migration.
 * 4. A PSCI 1.3 source onto a PSCI 1.1 destination (6.12): refused by the check, and by KVM itself
 *    (EINVAL) when pinned without one; pinned to PSCI 1.1, the same VM moves.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import { describeId } from "../regs/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { baseline } from "../check/baseline.js";
import type { Verdict } from "../check/check.js";
import { guestabi } from "./testing.js";
import { SimHosts } from "../fleet/fleet.js";
import { unpinnableCause } from "../fleet/sim-ops.js";
import { VmOpError } from "../vm/managed-vm.js";
import { createPinnedVm } from "../vm/pin.js";
import type { AbiTemplate } from "../formats/template.js";
import { writeTemplateFile } from "../formats/template.js";
import { abiFingerprint, abiOfSnapshot, fingerprintDiff, otherConduitDiff } from "../vm/guest-abi.js";
import { createDefaultVm, migrate, restore, save } from "../vm/vm.js";

const CPU = "cortex-a72";
const hosts = new SimHosts([[VCPU_FEATURES.PSCI_0_2]]);
const sim = (g: SimGeneration) => openSimKvm({ generation: g, cpu: CPU });
const P = (g: SimGeneration) => hosts.profile(g, CPU);

// ---- the built CLI: guestabi(args) from ../cli/testing.js --------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-scenarios-"));
const baselines = new Map<string, { template: AbiTemplate; unhonourable: Verdict[] }>();
/** The baseline of two kernels (Cortex-A72), also written to base-OLD.json for the CLI. */
async function baselineOf(
  old: SimGeneration,
  cur: SimGeneration,
): Promise<{ template: AbiTemplate; unhonourable: Verdict[] }> {
  let b = baselines.get(old);
  if (!b) {
    const r = baseline([P(old), P(cur)], { names: [old, cur], name: `a72-${old}+${cur}` });
    b = { template: r.template, unhonourable: r.unhonourable };
    baselines.set(old, b);
    await writeTemplateFile(path.join(tmp, `base-${old}.json`), b.template);
  }
  return b;
}
const names = (vs: readonly Verdict[]) =>
  vs.map((v) => `${v.host ? v.host + " " : ""}${v.register}${v.field ? "." + v.field : ""}`);
/** An assert.throws validator: a refusal by the check whose incompatible verdicts are exactly `expected`. */
const refusedWith =
  (expected: string[]) =>
  (e: unknown): true => {
    assert.ok(e instanceof VmOpError, String(e));
    assert.equal(e.kind, "refused", e.message);
    assert.deepEqual(names(e.verdicts!), expected);
    return true;
  };

describe("scenario 1: a VM with 7.2's defaults restored on 6.1", () => {
  // Expected (Cortex-A72, with the source profile): PSCI 1.3, and 6.1's invariant cache geometry.
  const EXPECTED = [
    "CCSIDR[0]",
    "CCSIDR[1]",
    "CCSIDR[2]",
    "CLIDR_EL1",
    "CLIDR_EL1.LoC",
    "CLIDR_EL1.Ctype2",
    "KVM_REG_ARM_PSCI_VERSION",
  ];

  it("is refused before anything is created, with the reasons listed (library)", () => {
    const vm = createDefaultVm(sim("7.2"), { vcpus: 2, cpuLabel: CPU });
    const snapshot = save(vm);
    assert.throws(
      () => restore(snapshot, sim("6.1"), { profile: P("6.1"), sourceProfile: P("7.2") }),
      (e: unknown) => {
        assert.ok(e instanceof VmOpError);
        assert.equal(e.kind, "refused");
        assert.equal(e.vmDestroyed, false); // nothing was created
        assert.deepEqual(names(e.verdicts!), EXPECTED);
        const psci = e.verdicts!.find((v) => v.register === "KVM_REG_ARM_PSCI_VERSION")!;
        assert.match(psci.reason, /the guest saw PSCI 1\.3; the destination accepts 0\.2, 1\.0, 1\.1/);
        const ccsidr = e.verdicts!.find((v) => v.register === "CCSIDR[0]")!;
        assert.match(
          ccsidr.reason,
          /the VM has 0x2, the destination shows 0x701fe00a .*invariant before 6\.3/,
        );
        return true;
      },
    );
  });

  it("is refused by `guestabi migrate` with exit code 1 and the verdicts on stdout (CLI)", () => {
    const r = guestabi(["migrate", "--from", `7.2/${CPU}`, "--to", `6.1/${CPU}`, "--vcpus", "2"]);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(r.stderr, "");
    assert.match(r.stdout, /^migrate 7\.2\/cortex-a72 -> 6\.1\/cortex-a72: REFUSED\n/);
    assert.match(r.stdout, /7 incompatible verdicts, nothing was created/);
    assert.match(r.stdout, /KVM_REG_ARM_PSCI_VERSION +the guest saw PSCI 1\.3/);
    const j = guestabi(["migrate", "--from", `7.2/${CPU}`, "--to", `6.1/${CPU}`, "--json"]);
    assert.equal(j.code, 1);
    const doc = JSON.parse(j.stdout) as { migrated: boolean; outcome: string; verdicts: Verdict[] };
    assert.equal(doc.migrated, false);
    assert.equal(doc.outcome, "refused");
    assert.deepEqual(names(doc.verdicts), EXPECTED);
  });

  it("is refused by `guestabi restore` of a saved snapshot file (CLI)", () => {
    const file = path.join(tmp, "s72.snap");
    const s = guestabi(["save", "--sim", `7.2/${CPU}`, "--out", file]);
    assert.equal(s.code, 0, s.stderr);
    const r = guestabi(["restore", "--snapshot", file, "--sim", `6.1/${CPU}`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /: REFUSED\n/);
    const ok = guestabi(["restore", "--snapshot", file, "--sim", `7.2/${CPU}`]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      /: RESTORED\n {2}restored {5}(\d+) registers .*: \1 equal, 0 time-varying, 0 adjusted\n/,
    );
  });
});

describe("scenario 2: the VM pinned to a baseline, migrating both ways", () => {
  it("of 6.1 and 7.2: migrates both ways, identical before and after; across, only what no register pins", async () => {
    const b = await baselineOf("6.1", "7.2");
    // 6.1 cannot change its cache geometry (demux_c15_set); 7.2 takes 6.1's (set_clidr, set_ccsidr),
    // and CCSIDR of levels that CLIDR lacks is UNKNOWN to the guest (get_ccsidr): nothing unhonourable.
    assert.deepEqual(b.unhonourable, []);
    const t = b.template;
    assert.equal(t.firmware.get(FW_REGS.PSCI_VERSION), 0x10001n); // PSCI 1.1: the newest both accept
    for (const [a, c] of [
      ["7.2", "6.1"],
      ["6.1", "7.2"],
    ] as [SimGeneration, SimGeneration][]) {
      const { vm } = createPinnedVm(sim(a), t, { profile: P(a), cpuLabel: CPU });
      const before = abiFingerprint(sim(a), t, t.features, P(a));
      const there = migrate(vm, sim(c), { profile: P(c), sourceProfile: P(a) });
      const onC = abiFingerprint(sim(c), abiOfSnapshot(save(there.vm)), t.features);
      const back = migrate(there.vm, sim(a), { profile: P(a), sourceProfile: P(c) });
      const after = abiFingerprint(sim(a), abiOfSnapshot(save(back.vm)), t.features);
      assert.equal(after.sha256, before.sha256, `${a} -> ${c} -> ${a}`);
      assert.equal(there.report.readBacks.adjusted, 0);
      // Across the two kernels the guest (HVC conduit) sees nothing change: the VM has its vGICv3, so the
      // GIC ID fields stay set, and both guests read GICD_IIDR revision 3 through MMIO.
      const causes = (d: [string, string][]) =>
        d.map(([x, y]) => `${x.split(": ")[0]}: ${unpinnableCause(x, y)}`).sort();
      assert.deepEqual(fingerprintDiff(before, onC), [], `${a} -> ${c}`);
      assert.ok(onC.lines.includes("GICD_IIDR: 0x4b00343b"), `${a} -> ${c}`);
      // Apart: 6.1 answers SMC with -1 (handle_smc) where 6.4+ runs it as an SMCCC call.
      assert.deepEqual(
        causes(otherConduitDiff(before, onC)),
        [
          "PSCI_VERSION via smc: the SMC conduit (handle_smc)",
          "SMCCC_VERSION via smc: the SMC conduit (handle_smc)",
        ],
        `${a} -> ${c}`,
      );
    }
  });

  it("of 6.12 and 7.2: migrates both ways, fingerprint identical before and after and across", async () => {
    const b = await baselineOf("6.12", "7.2");
    assert.deepEqual(b.unhonourable, []);
    const t = b.template;
    assert.equal(t.firmware.get(FW_REGS.PSCI_VERSION), 0x10001n);
    for (const [a, c] of [
      ["7.2", "6.12"],
      ["6.12", "7.2"],
    ] as [SimGeneration, SimGeneration][]) {
      const { vm } = createPinnedVm(sim(a), t, { vcpus: 2, profile: P(a), cpuLabel: CPU });
      const before = abiFingerprint(sim(a), t, t.features, P(a));
      const there = migrate(vm, sim(c), { profile: P(c), sourceProfile: P(a) });
      const onC = abiFingerprint(sim(c), abiOfSnapshot(save(there.vm)), t.features);
      const back = migrate(there.vm, sim(a), { profile: P(a), sourceProfile: P(c) });
      const after = abiFingerprint(sim(a), abiOfSnapshot(save(back.vm)), t.features);
      assert.equal(after.sha256, before.sha256, `${a} -> ${c} -> ${a}`);
      assert.deepEqual(fingerprintDiff(before, onC), [], `${a} -> ${c}`);
      assert.equal(there.report.readBacks.adjusted, 0);
      // Expected skips: what only the source lists, at values a VM that never knew them has.
      const skipped = [...new Set(there.report.skipped.map((x) => describeId(x.id).name))].sort();
      assert.deepEqual(
        skipped,
        a === "7.2" ? ["KVM_REG_ARM_VENDOR_HYP_BMAP_2"] : ["PIRE0_EL1", "PIR_EL1", "TCR2_EL1"],
      );
    }
  });

  it("`guestabi migrate --template` both ways: 6.12 and 7.2 identical; 6.1 and 7.2 only unpinnable differences (CLI)", async () => {
    await baselineOf("6.12", "7.2");
    await baselineOf("6.1", "7.2");
    // Both baselines: identical (MIGRATED, exit 0); across 6.1 and 7.2 the two SMC answers apart.
    const identical = (out: string) =>
      assert.match(
        out,
        /fingerprint {2}source ([0-9a-f]{16}), destination \1 \(over HVC, the VMM's conduit\): identical\n/,
      );
    const identicalApartFromSmc = (out: string) => {
      identical(out);
      assert.match(
        out,
        /\n {2}smc-only {5}2 differences through SMC, not counted: a guest whose firmware tables say HVC never issues an SMC\n/,
      );
      assert.equal(out.match(/\(no register pins it: /g)?.length, 2);
    };
    const cases: [string, string, string, (out: string) => void, number, string][] = [
      ["7.2", "6.12", "6.12", identical, 0, "MIGRATED"],
      ["6.12", "7.2", "6.12", identical, 0, "MIGRATED"],
      ["7.2", "6.1", "6.1", identicalApartFromSmc, 0, "MIGRATED"],
      ["6.1", "7.2", "6.1", identicalApartFromSmc, 0, "MIGRATED"],
    ];
    for (const [a, c, base, fingerprint, code, verdict] of cases) {
      const r = guestabi(
        ["migrate", "--from", `${a}/${CPU}`, "--to", `${c}/${CPU}`, "--template"].concat([
          path.join(tmp, `base-${base}.json`),
          "--vcpus",
          "2",
        ]),
      );
      assert.equal(r.stderr, "");
      assert.equal(r.code, code);
      assert.match(r.stdout, new RegExp(`^migrate ${a}/cortex-a72 -> ${c}/cortex-a72: ${verdict}\\n`));
      fingerprint(r.stdout);
    }
    const pin = guestabi([
      "pin",
      "--template",
      path.join(tmp, "base-6.12.json"),
      "--sim",
      `7.2/${CPU}`,
      "--json",
    ]);
    assert.equal(pin.code, 0, pin.stderr);
    const doc = JSON.parse(pin.stdout) as {
      changed: { name: string; hostDefault: string; pinned: string }[];
    };
    assert.deepEqual(doc.changed, [
      {
        id: "0x6030000000140000",
        name: "KVM_REG_ARM_PSCI_VERSION",
        hostDefault: "0x10003",
        pinned: "0x10001",
      },
    ]);
  });

  it("`guestabi impact`: the 7.2 group rolled back to 6.12 breaks unpinned VMs, not pinned ones (CLI)", async () => {
    await baselineOf("6.12", "7.2");
    fs.writeFileSync(
      path.join(tmp, "fleet.json"),
      JSON.stringify({
        format: "guestabi-fleet",
        version: 1,
        name: "thread",
        groups: [{ name: "new", kernel: "7.2", cpu: CPU, hosts: 8 }],
        vms: [
          { name: "unpinned", group: "new", count: 10, abi: "host-defaults" },
          { name: "pinned", group: "new", count: 6, template: "base-6.12.json" },
        ],
      }),
    );
    const r = guestabi([
      "impact",
      "--fleet",
      path.join(tmp, "fleet.json"),
      "--rollback",
      "new",
      "--to",
      "6.12",
      "--json",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      format: string;
      counts: Record<string, number>;
      entries: { names: string[]; status: string; why: string }[];
    };
    assert.equal(doc.format, "guestabi-impact");
    assert.deepEqual(
      doc.entries.map((v) => [v.names.join(","), v.status, v.why]),
      [
        [
          "unpinned",
          "breaks",
          "the guest sees PSCI 1.1 instead of 1.3; guestabi refuses: KVM_REG_ARM_PSCI_VERSION",
        ],
        ["pinned", "safe", ""],
      ],
    );
    assert.deepEqual(doc.counts, { vms: 16, breaks: 10, guestViewChanges: 0, safe: 6, cannotStart: 0 });
  });
});

describe("scenario 3: a guest that discovered KVM_PTP moved to a host that does not offer it", () => {
  it("is refused, the verdict naming PTP; the guest's view shows it gone (library)", () => {
    const vm = createDefaultVm(sim("6.1"), { cpuLabel: CPU }); // 6.1: VENDOR_HYP_BMAP = FUNC_FEAT | PTP
    const s = save(vm);
    assert.equal(s.vcpus[0]!.regs.get(FW_REGS.VENDOR_HYP_BMAP), 0b11n);
    assert.throws(
      () => restore(s, sim("5.10"), { profile: P("5.10"), sourceProfile: P("6.1") }),
      (e: unknown) =>
        e instanceof VmOpError &&
        e.kind === "refused" &&
        e.verdicts!.some(
          (v) => v.register === "KVM_REG_ARM_VENDOR_HYP_BMAP" && /loses .*PTP \(bit 1\)/.test(v.reason),
        ),
    );
    // The guest's view: KVM_FEATURES (bit 1: PTP) answers NOT_SUPPORTED on 5.10. (The KVM_PTP calls themselves
    // show only as "returned" on both: the fingerprint counts time-varying items by outcome.)
    const seen = fingerprintDiff(
      abiFingerprint(sim("6.1"), "host-defaults"),
      abiFingerprint(sim("5.10"), "host-defaults"),
    );
    assert.ok(
      seen.some(
        ([a, b]) =>
          a === "VENDOR_HYP_KVM_FEATURES: 0x3 0x0 0x0 0x0" &&
          b === "VENDOR_HYP_KVM_FEATURES: 0xffffffffffffffff 0x0 0x0 0x0",
      ),
    );
  });

  it("a VM pinned with PTP hidden keeps it hidden across a migration (library)", () => {
    const t = abiOfSnapshot(save(createDefaultVm(sim("6.12"))));
    t.firmware.set(FW_REGS.VENDOR_HYP_BMAP, 0b01n); // the VMM hides KVM_PTP
    const { vm } = createPinnedVm(sim("6.12"), t, { profile: P("6.12") });
    const r = migrate(vm, sim("7.2"), { profile: P("7.2"), sourceProfile: P("6.12") });
    assert.equal(r.vm.vcpus[0]!.vcpu.getOneReg(FW_REGS.VENDOR_HYP_BMAP), 0b01n);
    const fp = abiFingerprint(sim("7.2"), abiOfSnapshot(save(r.vm)), t.features);
    assert.ok(fp.lines.includes("VENDOR_HYP_KVM_FEATURES: 0x1 0x0 0x0 0x0")); // PTP not offered
  });

  it("`guestabi migrate` 6.1 -> 5.10 lists the PTP loss (CLI)", () => {
    const r = guestabi(["migrate", "--from", `6.1/${CPU}`, "--to", `5.10/${CPU}`]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /KVM_REG_ARM_VENDOR_HYP_BMAP .*loses .*KVM vendor hypervisor: PTP \(bit 1\)/);
  });
});

describe("scenario 4: a PSCI 1.3 source onto a PSCI 1.1 destination", () => {
  it("is refused by the check, and by KVM itself (EINVAL) when pinned without a profile (library)", async () => {
    const s = save(createDefaultVm(sim("7.2")));
    assert.equal(s.vcpus[0]!.regs.get(FW_REGS.PSCI_VERSION), 0x10003n);
    assert.throws(
      () => restore(s, sim("6.12"), { profile: P("6.12"), sourceProfile: P("7.2") }),
      (e: unknown) =>
        refusedWith(["KVM_REG_ARM_PSCI_VERSION"])(e) &&
        /PSCI 1\.3.* accepts 0\.2, 1\.0, 1\.1/.test((e as VmOpError).verdicts![0]!.reason),
    );
    assert.throws(
      () => createPinnedVm(sim("6.12"), abiOfSnapshot(s)),
      (e: unknown) =>
        e instanceof VmOpError &&
        e.kind === "kvm" &&
        e.register === FW_REGS.PSCI_VERSION &&
        e.errno === "EINVAL",
    );
    // Pinned to PSCI 1.1 on 7.2, the same VM moves.
    const { template } = await baselineOf("6.12", "7.2");
    const { vm } = createPinnedVm(sim("7.2"), template, { profile: P("7.2") });
    const r = migrate(vm, sim("6.12"), { profile: P("6.12") });
    assert.equal(r.vm.vcpus[0]!.vcpu.getOneReg(FW_REGS.PSCI_VERSION), 0x10001n);
  });

  it("`guestabi pin` of a PSCI 1.3 template on 6.12 fails with one line, exit code 1 (CLI)", async () => {
    const file = path.join(tmp, "psci13.json");
    await writeTemplateFile(file, abiOfSnapshot(save(createDefaultVm(sim("7.2")))));
    const r = guestabi(["pin", "--template", file, "--sim", `6.12/${CPU}`]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      /^guestabi: pin: 6\.12\.0-sim-arm64 \(cortex-a72\) cannot honour the template .*KVM_REG_ARM_PSCI_VERSION[^\n]*\n$/,
    );
  });

  it("bad input is one line, exit code 2, nothing on stdout (CLI)", () => {
    for (const args of [
      ["migrate", "--from", "9.9", "--to", "6.1"],
      ["pin", "--template", path.join(tmp, "none.json"), "--sim", "7.2"],
      ["restore", "--snapshot", path.join(tmp, "none.snap"), "--sim", "7.2"],
      ["impact", "--fleet", path.join(tmp, "none.json"), "--rollback", "g", "--to", "6.1"],
      ["plan", "--fleet", path.join(tmp, "none.json")],
    ]) {
      const r = guestabi(args);
      assert.equal(r.code, 2, args.join(" "));
      assert.equal(r.stdout, "");
      assert.match(r.stderr, /^guestabi: [^\n]+\n$/);
    }
  });
});

describe("guestabi plan (CLI)", () => {
  it("runs on the built-in example fleet", () => {
    const r = guestabi(["plan"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^guestabi plan: fleet example: 8 host groups, 280 hosts, 654 VMs \(11 entries\); 8 host profiles \(simulator\), 0 what-if, /,
    );
    assert.match(
      r.stdout,
      /\n {2}roll edge-a72 back to 6\.12: 30 of 30 VMs break with host defaults, 0 pinned to the baseline of 7\.2 and 6\.12: before the upgrade, pin edge-a72's VMs to cortex-a72-psci-0\.2-6\.12\+7\.2\.abi\.json; the guests give up: sees PSCI 1\.1 instead of 1\.3\n/,
    );
    assert.match(
      r.stdout,
      // 6.1's cache geometry is in the 6.1+7.2 baseline (7.2 takes it: set_clidr, set_ccsidr)
      /\n {2}roll edge-a72 back to 6\.1: 30 of 30 VMs break with host defaults, 0 pinned to the baseline of 7\.2 and 6\.1: /,
    );
    assert.match(
      r.stdout,
      /\n {2}roll edge-a72 back to 5\.10: 30 of 30 VMs break with host defaults; pinning cannot help/,
    );
    const j = guestabi(["plan", "--json"]);
    assert.equal((JSON.parse(j.stdout) as { format: string }).format, "guestabi-plan");
  });
});
