import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FW_REGS } from "../kvm/index.js";
import type { HostProfile } from "../formats/profile.js";
import type { AbiTemplate } from "../formats/template.js";
import { baseline } from "../check/baseline.js";
import { cloneProfile, n1Profile, simProfile } from "../check/testing/sim-profiles.js";
import { QemuVersionError } from "./qemu.js";
import { exportQemu, formatQemuExport } from "./export-qemu.js";

const now = () => new Date("2030-01-01T00:00:00.000Z");
const templateOf = (...hosts: HostProfile[]): AbiTemplate => baseline(hosts, { now }).template;
const H61 = "6.1.0-sim-arm64 (neoverse-n1)";
const H72 = "7.2.0-sim-arm64 (neoverse-n1)";

/** A copy of a profile whose KVM defaults to PSCI `version` (every configuration's reset reading). */
function withPsciDefault(p: HostProfile, version: bigint): HostProfile {
  const q = cloneProfile(p);
  for (const c of q.configs)
    c.reset = c.reset?.map(([id, v]) => [id, id === FW_REGS.PSCI_VERSION ? version : v]);
  return q;
}

describe("export qemu", () => {
  it("6.1 + 7.2 kernels on Neoverse-N1: 7.2/10.0 are stopped by the ID registers, PSCI and the longer list", () => {
    const t = templateOf(n1Profile("6.1"), n1Profile("7.2"));
    for (const v of ["7.2", "10.0"]) {
      const e = exportQemu(t, [n1Profile("6.1"), n1Profile("7.2")], v);
      assert.equal(e.ok, false);
      assert.equal(e.cpu, "host");
      assert.deepEqual(e.options, []);
      assert.deepEqual(
        e.blocking.map((b) => [b.register, b.hosts]),
        [
          ["CLIDR_EL1", [H72]],
          ["ID_AA64DFR0_EL1", [H72]],
          ["KVM_REG_ARM_PSCI_VERSION", [H72]],
          ["CCSIDR[0]", [H72]],
          ["CCSIDR[1]", [H72]],
          ["CCSIDR[2]", [H72]],
          ["cpreg_vmstate_array_len", [`${H72} -> ${H61}`]],
        ],
      );
      assert.equal(
        e.blocking[2]!.reason,
        `the template has PSCI 1.1; this host's KVM defaults to 1.3 and QEMU ${v} has no kvm-psci-version`,
      );
      assert.equal(
        e.blocking[0]!.reason,
        `the template has 0x82000023; this host's KVM default is 0x2000021 and -cpu host never writes ID registers (QEMU ${v})`,
      );
      assert.equal(
        e.blocking[6]!.reason,
        'the source saves 256 registers, the destination lists 241: "qemu-system-aarch64: Invalid value 256 expecting positive value <= 241" (vmstate_arm_cpu, get_int32_le)',
      );
    }
  });

  it("6.1 + 7.2 kernels, QEMU 11.1: kvm-psci-version=1.1 settles PSCI and the list; the ID registers still stop it", () => {
    const e = exportQemu(templateOf(n1Profile("6.1"), n1Profile("7.2")), [
      n1Profile("6.1"),
      n1Profile("7.2"),
    ]);
    assert.equal(e.version, "11.1"); // the default
    assert.equal(e.ok, false);
    assert.deepEqual(e.options, [
      {
        property: "kvm-psci-version",
        value: "1.1",
        why: "PSCI 1.1 on every host (kvm_arch_init_vcpu writes KVM_REG_ARM_PSCI_VERSION)",
        evidence: "binary",
      },
    ]);
    assert.deepEqual(
      e.blocking.map((b) => b.register),
      ["CLIDR_EL1", "ID_AA64DFR0_EL1", "CCSIDR[0]", "CCSIDR[1]", "CCSIDR[2]"],
    );
    const notes61 = e.hosts.find((h) => h.host === H61)!.notes;
    assert.deepEqual(notes61, [
      "does not list KVM_REG_ARM_VENDOR_HYP_BMAP_2: a VM started here does not have it",
      `from ${H72}: CCSIDR[3], CCSIDR[4], CCSIDR[5], CCSIDR[6], CCSIDR[7], CCSIDR[8], CCSIDR[9], CCSIDR[10], CCSIDR[11], CCSIDR[12], CCSIDR[13], KVM_REG_ARM_PTIMER_CNT, KVM_REG_ARM_PTIMER_CTL, KVM_REG_ARM_PTIMER_CVAL not listed here; QEMU 11.1 prints "...fail migration" for each and loads all the same (measured in the lab: the load goes on past cpu_post_load): their state is dropped`,
      `from ${H72}: KVM_REG_ARM_VENDOR_HYP_BMAP_2 dropped, in QEMU 11.1's tolerance list (new in Linux 6.15; dropped only while no service of it is on)`,
    ]);
  });

  it("hosts that differ only in their default PSCI: 11.1 pins it, 7.2 cannot", () => {
    const a = n1Profile("7.2");
    const b = withPsciDefault(a, 0x10001n);
    const t = templateOf(a);
    t.firmware.set(FW_REGS.PSCI_VERSION, 0x10001n);
    const e111 = exportQemu(t, [a, b], "11.1");
    assert.equal(e111.ok, true);
    assert.deepEqual(e111.args, ["-cpu", "host,kvm-psci-version=1.1"]);
    assert.deepEqual(e111.blocking, []);
    const e72 = exportQemu(t, [a, b], "7.2");
    assert.equal(e72.ok, false);
    assert.deepEqual(e72.args, ["-cpu", "host"]);
    assert.deepEqual(e72.blocking, [
      {
        register: "KVM_REG_ARM_PSCI_VERSION",
        id: "0x6030000000140000",
        hosts: [`${H72} #1`],
        reason:
          "the template has PSCI 1.1; this host's KVM defaults to 1.3 and QEMU 7.2 has no kvm-psci-version",
      },
    ]);
    assert.equal(
      formatQemuExport(e111),
      [
        "QEMU 11.1: -cpu host,kvm-psci-version=1.1",
        "  every listed host starts and loads a VM of the template with these options",
        "  kvm-psci-version=1.1: PSCI 1.1 on every host (kvm_arch_init_vcpu writes KVM_REG_ARM_PSCI_VERSION) [read from its binary; the lab ran it with 1.0 (lab/qemu)]",
        "not verified on a real QEMU:",
        "  QEMU 11.1's rules were read from Debian's 1:11.1.3+ds-1 arm64 binary (its source was not available) and held to real migrations in the lab (lab/qemu: kernels 5.10, 6.1, 6.12, 7.2 on cortex-a72 and neoverse-n1); other kernels and CPUs follow from the rules, not from a run",
        "  KVM_REG_ARM64_SVE_VLS is not in the migration stream: every host must run QEMU with the same sve<N> options",
        "  the template's machine section (vGIC, ITS, PMU counters, counter offset, SMCCC filter) is not compared with QEMU's virt machine",
        "",
      ].join("\n"),
    );
  });

  it("kvm-psci-version a host's kernel does not know: QEMU 11.1 stops at startup there", () => {
    const e = exportQemu(templateOf(n1Profile("7.2")), [n1Profile("7.2"), n1Profile("6.1")], "11.1");
    assert.equal(e.options.find((o) => o.property === "kvm-psci-version")?.value, "1.3");
    assert.deepEqual(
      e.blocking.find((b) => b.register === "KVM_REG_ARM_PSCI_VERSION"),
      {
        register: "KVM_REG_ARM_PSCI_VERSION",
        id: "0x6030000000140000",
        hosts: [H61],
        reason:
          'QEMU 11.1 stops at startup here: "qemu-system-aarch64: KVM in this kernel does not support PSCI version 1.3" (kvm_arch_init_vcpu); this host accepts 0.2, 1.0, 1.1 (the probe\'s writes)',
      },
    );
  });

  it("vCPU features: pmu=off where every host has a PMU; none of it where some host has none", () => {
    const t = templateOf(simProfile("7.2", "neoverse-n1", ["psci-0.2"])); // no PMU_V3
    const withPmu = n1Profile("7.2");
    const noPmu = cloneProfile(withPmu);
    noPmu.kvm!.caps["KVM_CAP_ARM_PMU_V3"] = [0, 0];
    const one = exportQemu(t, [withPmu], "10.0");
    assert.equal(one.ok, true);
    assert.equal(one.cpu, "host,pmu=off");
    const mixed = exportQemu(t, [withPmu, noPmu], "10.0");
    assert.equal(mixed.ok, false);
    assert.deepEqual(mixed.blocking, [
      {
        register: "KVM_ARM_VCPU_INIT",
        id: "",
        hosts: [`${H72} #1`],
        reason:
          "PMU_V3: requested here; pmu=off would drop it, but hosts without a PMU have no pmu property (arm_cpu_post_init) and QEMU refuses it there",
      },
    ]);
    // A template with the PMU on a host without one.
    const needs = exportQemu(templateOf(withPmu), [withPmu, noPmu], "10.0");
    assert.deepEqual(
      needs.blocking.map((b) => [b.hosts, b.reason]),
      [[[`${H72} #2`], "PMU_V3: KVM_CAP_ARM_PMU_V3 is 0: QEMU cannot request it here"]],
    );
  });

  it("SVE: one sve<N>=on per template length; a host that would enable more stands in the way", () => {
    const fx = simProfile("7.2", "a64fx", ["psci-0.2", "psci-0.2+sve"]);
    const t = templateOf(fx);
    assert.deepEqual(t.sveVqs, [1, 2, 4]);
    const e = exportQemu(t, [fx], "7.2");
    assert.equal(e.ok, true);
    assert.equal(e.cpu, "host,pmu=off,sve128=on,sve256=on,sve512=on");
    const gap = exportQemu({ ...t, sveVqs: [1, 4] }, [fx], "7.2");
    assert.equal(gap.ok, false);
    assert.deepEqual(
      gap.blocking.map((b) => b.reason),
      [
        "SVE: with sve128=on,sve512=on QEMU gives {128, 256, 512} bits here (the host's lengths up to the largest, arm_cpu_sve_finalize), not {128, 512} bits",
      ],
    );
  });

  it("a template without PSCI_0_2: kvm-psci-version=0.1 on 11.1; 7.2 always requests PSCI_0_2", () => {
    const p01 = simProfile("7.2", "neoverse-n1", ["psci-0.1"]);
    const t = templateOf(p01);
    assert.deepEqual(t.features, []);
    assert.equal(exportQemu(t, [p01], "11.1").cpu, "host,pmu=off,kvm-psci-version=0.1");
    assert.deepEqual(
      exportQemu(t, [p01], "7.2").blocking.map((b) => b.reason),
      ["PSCI_0_2: QEMU 7.2 requests it wherever KVM offers it"],
    );
  });

  it("identical hosts need no option; an unknown version is a typed error", () => {
    const t = templateOf(n1Profile("7.2"));
    const e = exportQemu(t, [n1Profile("7.2"), n1Profile("7.2")], "10.0");
    assert.equal(e.ok, true);
    assert.deepEqual(e.args, ["-cpu", "host"]);
    assert.deepEqual(
      e.hosts.map((h) => h.host),
      [`${H72} #1`, `${H72} #2`],
    );
    assert.throws(() => exportQemu(t, [n1Profile("7.2")], "8.2"), QemuVersionError);
    assert.throws(() => exportQemu(t, [], "10.0"), RangeError);
  });
});
