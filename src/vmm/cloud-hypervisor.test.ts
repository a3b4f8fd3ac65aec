import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { COPROC, makeId, sysregId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { FW_REGS, coreXReg } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import { SnapshotFormatError } from "../formats/snapshot.js";
import { throwsFormat } from "../formats/testing/snapshot-arbitraries.js";
import { fillError } from "../check/restore-policy.js";
import {
  CLOUD_HYPERVISOR_POLICY,
  looksLikeCloudHypervisorState,
  parseJsonExact,
  readCloudHypervisorState,
} from "./cloud-hypervisor.js";
import {
  cloudHypervisorVcpuState,
  exactJson,
  writeCloudHypervisorState,
} from "./testing/cloud-hypervisor-state-writer.js";
import type { CloudHypervisorEra } from "./testing/cloud-hypervisor-state-writer.js";
import { writeFirecrackerSnapshot } from "./testing/firecracker-snapshot-writer.js";
import { CCSIDR_0, MIDR_EL1, PMCR_EL0, VLS, Z0, sampleVcpuRegs } from "./testing/vmm-vcpu-samples.js";

const ERAS: CloudHypervisorEra[] = ["v29-v38", "v39-v52", "v53"];
const PC = makeId("U64", COPROC.core, 256 / 4);
const FPSR = makeId("U32", COPROC.core, 0xd4);
const V0 = makeId("U128", COPROC.core, 0x54);

/** A leaf of the snapshot tree around a vCPU state, v39+ form. */
const leaf = (state: unknown) => ({ snapshots: {}, snapshot_data: { state: exactJson(state) } });
const vmWith = (vcpus: Record<string, unknown>) =>
  exactJson({ snapshots: { "cpu-manager": { snapshots: vcpus, snapshot_data: null } }, snapshot_data: null });

describe("Cloud Hypervisor state.json (aarch64, KVM)", () => {
  it("reads a v39+ state assembled by hand: core registers from kvm_regs' bytes, the rest from sys_regs", () => {
    const core = Array<number>(864).fill(0);
    core.splice(0, 8, 0x34, 0x12, 0, 0, 0, 0, 0, 0); // regs.regs[0] = x0
    core.splice(256, 8, 0x00, 0x00, 0x01, 0x08, 0x00, 0x80, 0xff, 0xff); // regs.pc
    core.splice(336, 16, ...Array.from({ length: 16 }, (_, i) => i + 1)); // fp_regs.vregs[0]
    core.splice(848, 4, 0x10, 0, 0, 0); // fp_regs.fpsr
    const oneReg = (id: bigint, addr: bigint) =>
      Array.from({ length: 16 }, (_, i) => Number(((i < 8 ? id : addr) >> BigInt(8 * (i % 8))) & 0xffn));
    const text = vmWith({
      "0": leaf({
        Kvm: {
          mp_state: [0, 0, 0, 0],
          core_regs: core,
          sys_regs: [
            oneReg(MIDR_EL1, 0x410f_d0c1n),
            oneReg(CCSIDR_0, 0xdead_beef_701f_e01an), // a U32 register: KVM reads the low half
            oneReg(FW_REGS.PSCI_VERSION, 0x1_0001n),
          ],
        },
      }),
    });
    const read = readCloudHypervisorState(text);
    assert.equal(read.format, "Cloud Hypervisor state.json (Cloud Hypervisor v39-v52)");
    const [vcpu] = read.snapshot.vcpus;
    assert.deepEqual(vcpu!.init, { target: 5, features: [2] });
    assert.equal(vcpu!.regs.size, 75 + 3);
    assert.equal(vcpu!.regs.get(coreXReg(0)), 0x1234n);
    assert.equal(vcpu!.regs.get(PC), 0xffff_8000_0801_0000n);
    assert.deepEqual(
      vcpu!.regs.get(V0),
      Uint8Array.from({ length: 16 }, (_, i) => i + 1),
    );
    assert.equal(vcpu!.regs.get(FPSR), 0x10n);
    assert.equal(vcpu!.regs.get(MIDR_EL1), 0x410f_d0c1n);
    assert.equal(vcpu!.regs.get(CCSIDR_0), 0x701f_e01an);
    assert.equal(vcpu!.regs.get(FW_REGS.PSCI_VERSION), 0x1_0001n);
    assert.deepEqual(read.snapshot.vm, { ipaBits: 0, caps: [], attrs: [] });
    assert.equal(read.snapshot.note, "Cloud Hypervisor v39-v52 snapshot, 1 vCPUs");
    assert.deepEqual(read.notes, [
      "kvm_vcpu_init is not saved: the features are those Cloud Hypervisor's restore requests (Vcpu::init): PSCI 0.2, POWER_OFF past vCPU 0, PMU_V3 where the PMU's registers were saved (PMCR_EL0), SVE where its registers were; the target is the destination's preferred one, taken as GENERIC_V8",
      "the host the snapshot was taken on is not recorded (source: unknown)",
      "the VM's IPA size is the destination's limit (create_vm): none is pinned",
      "the GIC's state (device-manager) is not read: no machine pins",
    ]);
  });

  it("reads a v29-v38 state: JSON text as byte values, derived structs, integers beyond 2^53 exact", () => {
    const state = {
      Kvm: {
        mp_state: { mp_state: 0n },
        core_regs: {
          regs: {
            regs: Array.from({ length: 31 }, (_, n) => BigInt(n)),
            sp: 0n,
            pc: 0xffff_8000_0801_0004n,
            pstate: 0x3c5n,
          },
          sp_el1: 0n,
          elr_el1: 0n,
          spsr: [0n, 0n, 0n, 0n, 0n],
          __bindgen_padding_0: 0n,
          fp_regs: {
            vregs: Array.from({ length: 32 }, (_, n) => (n === 31 ? (1n << 127n) + 5n : 0n)),
            fpsr: 0n,
            fpcr: 0n,
            __reserved: [0n, 0n],
          },
        },
        sys_regs: [{ id: MIDR_EL1, addr: 0xffff_ffff_ffff_fff1n }],
      },
    };
    const bytes = [...new TextEncoder().encode(exactJson(state))];
    const text = exactJson({
      snapshots: {
        "cpu-manager": { snapshots: { "0": { snapshots: {}, snapshot_data: bytes } }, snapshot_data: null },
      },
      snapshot_data: [123, 125],
    });
    const read = readCloudHypervisorState(text);
    assert.equal(read.format, "Cloud Hypervisor state.json (Cloud Hypervisor v29-v38)");
    const regs = read.snapshot.vcpus[0]!.regs;
    assert.equal(regs.get(PC), 0xffff_8000_0801_0004n);
    assert.equal(regs.get(coreXReg(30)), 30n);
    assert.equal(regs.get(MIDR_EL1), 0xffff_ffff_ffff_fff1n);
    const v31 = makeId("U128", COPROC.core, 0x54 + 31 * 4);
    assert.deepEqual(regs.get(v31), Uint8Array.from([5, ...Array<number>(14).fill(0), 0x80]));
  });

  it("reads every era back to the registers KVM listed, with the features Cloud Hypervisor's restore requests", () => {
    for (const era of ERAS) {
      const vcpus = [0, 1, 2].map((i) => sampleVcpuRegs(i, { pmu: i === 0, sve: era === "v53" && i === 2 }));
      const read = readCloudHypervisorState(writeCloudHypervisorState(vcpus, era));
      assert.equal(
        read.format,
        `Cloud Hypervisor state.json (Cloud Hypervisor ${era === "v53" ? "v53 and later" : era})`,
      );
      const [v0, v1, v2] = read.snapshot.vcpus;
      assert.deepEqual(v0!.regs, new Map(vcpus[0]), era);
      assert.deepEqual(v1!.regs, new Map(vcpus[1]), era);
      assert.deepEqual(v0!.init, { target: 5, features: [2, 3] }); // PMCR_EL0 saved: PMU_V3
      assert.deepEqual(v1!.init, { target: 5, features: [0, 2] });
      if (era === "v53") {
        // SVE: fpsr and fpcr are not saved (get_fpsimd_regs runs only without SVE).
        assert.deepEqual(v2!.regs, new Map(vcpus[2]!.filter(([id]) => id !== FPSR && id !== FPSR + 1n)));
        assert.deepEqual(v2!.init, { target: 5, features: [0, 2, 4] });
        assert.deepEqual(v2!.sveVqs, [1, 2]);
        assert.equal((v2!.regs.get(Z0) as Uint8Array).length, 256);
        assert.ok(v2!.regs.has(VLS));
        assert.ok(
          read.notes.includes(
            "with SVE, Cloud Hypervisor saves neither fpsr nor fpcr (KvmVcpu::state): they are left out",
          ),
        );
      } else assert.deepEqual(v2!.regs, new Map(vcpus[2]), era);
    }
  });

  it("orders vCPUs by id, whatever the BTreeMap's string order", () => {
    const vcpus = Array.from({ length: 12 }, (_, i) => sampleVcpuRegs(i));
    const read = readCloudHypervisorState(writeCloudHypervisorState(vcpus, "v39-v52"));
    assert.deepEqual(
      read.snapshot.vcpus.map((v) => v.id),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    assert.equal(read.snapshot.vcpus[10]!.regs.get(sysregId(3, 0, 0, 0, 5)), 0x8000_000an); // MPIDR_EL1
  });

  it("refuses what is not a Cloud Hypervisor aarch64 KVM vCPU state, with one typed line", () => {
    throwsFormat(
      () => readCloudHypervisorState("{"),
      "syntax",
      /^Cloud Hypervisor state\.json: state\.json: expected a key at offset 1$/,
    );
    throwsFormat(
      () => readCloudHypervisorState(""),
      "syntax",
      /^Cloud Hypervisor state\.json: state\.json: unexpected end at offset 0$/,
    );
    throwsFormat(() => readCloudHypervisorState(Uint8Array.of(0xff, 0xfe)), "syntax", /not UTF-8/);
    throwsFormat(() => readCloudHypervisorState('{"snapshots":{}}'), "schema", /no cpu-manager snapshot/);
    throwsFormat(() => readCloudHypervisorState(vmWith({})), "schema", /cpu-manager has no vCPU snapshots/);
    throwsFormat(
      () => readCloudHypervisorState(vmWith({ "0": leaf({ Mshv: {} }) })),
      "schema",
      /an MSHV vCPU state/,
    );
    throwsFormat(
      () =>
        readCloudHypervisorState(
          vmWith({ "0": leaf({ Kvm: { mp_state: [0, 0, 0, 0], regs: [], sregs: [] } }) }),
        ),
      "schema",
      /an x86_64 vCPU state/,
    );
    throwsFormat(
      () =>
        readCloudHypervisorState(
          vmWith({ "0": leaf({ Kvm: { mp_state: [0, 0, 0, 0], core_regs: [1, 2], sys_regs: [] } }) }),
        ),
      "schema",
      /"0" state\.Kvm\.core_regs: expected 864 byte values$/,
    );
    throwsFormat(() => readCloudHypervisorState(vmWith({ "01": leaf({}) })), "schema", /"01": not a vCPU id/);
    throwsFormat(
      () => readCloudHypervisorState(vmWith({ "0": { snapshots: {}, snapshot_data: null } })),
      "schema",
      /snapshot_data: missing/,
    );
    throwsFormat(
      () => readCloudHypervisorState(vmWith({ "0": { snapshots: {}, snapshot_data: [300] } })),
      "schema",
      /snapshot_data\[0\]: not a byte value/,
    );
    throwsFormat(
      () => readCloudHypervisorState(vmWith({ "0": { snapshots: {}, snapshot_data: { state: "{]" } } })),
      "syntax",
      /"0" state: expected a key at offset 1/,
    );
    throwsFormat(() => readCloudHypervisorState(`{"a":1,"a":2}`), "syntax", /duplicate key "a"/);
    throwsFormat(() => readCloudHypervisorState("[".repeat(10_000)), "limit", /nested deeper than 64 levels/);
    throwsFormat(() => readCloudHypervisorState(`[${"9".repeat(70)}]`), "limit", /a number of 70 characters/);
  });

  it("refuses register records a restore could not write: malformed, duplicate, wrong sizes", () => {
    const state = (sys: [bigint, bigint][], extra: Record<string, unknown> = {}) => {
      const s = cloudHypervisorVcpuState(sampleVcpuRegs(0).slice(0, 75), "v39-v52") as {
        Kvm: Record<string, unknown>;
      };
      const le = (v: bigint) => Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
      return vmWith({
        "0": leaf({ Kvm: { ...s.Kvm, sys_regs: sys.map(([id, v]) => [...le(id), ...le(v)]), ...extra } }),
      });
    };
    throwsFormat(
      () =>
        readCloudHypervisorState(
          state([
            [MIDR_EL1, 1n],
            [MIDR_EL1, 2n],
          ]),
        ),
      "register",
      /"0": register 0x603000000013c000 appears twice/,
    );
    throwsFormat(
      () => readCloudHypervisorState(state([[0x1234n, 1n]])),
      "register",
      /sys_regs\[0\]: malformed id 0x0000000000001234/,
    );
    throwsFormat(
      () => readCloudHypervisorState(state([[V0, 1n]])),
      "register",
      /is a core register \(saved in core_regs\)/,
    );
    throwsFormat(
      () => readCloudHypervisorState(state([[Z0, 1n]])),
      "register",
      /is 2048-bit; sys_regs hold U32 and U64 registers/,
    );
    throwsFormat(
      () => readCloudHypervisorState(state([], { pre_finalize_regs: [{ id: Z0, data: [1] }] })),
      "register",
      /pre_finalize_regs\[0\]: 0x6080000000150000 is not KVM_REG_ARM64_SVE_VLS/,
    );
    throwsFormat(
      () => readCloudHypervisorState(state([], { extended_regs: [{ id: Z0, data: [1, 2] }] })),
      "register",
      /extended_regs\[0\]: 0x6080000000150000 needs 256 bytes, has 2/,
    );
    throwsFormat(
      () =>
        readCloudHypervisorState(
          state([], { extended_regs: [{ id: Z0, data: Array<number>(256).fill(0) }] }),
        ),
      "register",
      /"0": vCPU 0 has the SVE feature but no KVM_REG_ARM64_SVE_VLS register/,
    );
  });

  it("keeps prototype keys as plain keys: nothing is polluted, unknown ones are refused or ignored", () => {
    const proto = `{"__proto__":{"polluted":1},"snapshots":{"cpu-manager":{"snapshots":{"__proto__":{}},"snapshot_data":null}}}`;
    throwsFormat(() => readCloudHypervisorState(proto), "schema", /"__proto__": not a vCPU id/);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const parsed = parseJsonExact(`{"__proto__":{"x":1},"constructor":2}`, "t") as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(parsed), null);
    assert.deepEqual(Object.keys(parsed), ["__proto__", "constructor"]);
    const vcpus = writeCloudHypervisorState([sampleVcpuRegs(0)], "v39-v52").replace(
      '"snapshots":{',
      '"snapshots":{"__proto__":{},',
    );
    assert.equal(readCloudHypervisorState(vcpus).snapshot.vcpus.length, 1);
  });

  it("detects state.json as Cloud Hypervisor writes it", () => {
    for (const era of ERAS)
      assert.equal(
        looksLikeCloudHypervisorState(
          new TextEncoder().encode(writeCloudHypervisorState([sampleVcpuRegs(0)], era)),
        ),
        true,
      );
    assert.equal(
      looksLikeCloudHypervisorState(new TextEncoder().encode(' {\n "snapshots" : { "cpu-manager": {')),
      true,
    );
    assert.equal(
      looksLikeCloudHypervisorState(new TextEncoder().encode('{"format":"guestabi-snapshot"}')),
      false,
    );
    const fcFile = writeFirecrackerSnapshot(
      { memMib: 1n, vcpus: [{ regs: [], mpidr: 0n, kvi: { target: 5, features: [] } }] },
      "v1.14",
    );
    assert.equal(looksLikeCloudHypervisorState(fcFile), false);
  });

  it("fails cleanly at every truncation of a state.json", () => {
    const text = writeCloudHypervisorState([sampleVcpuRegs(0).slice(70, 84)], "v39-v52");
    for (let n = 0; n < text.length; n += 7)
      assert.throws(
        () => readCloudHypervisorState(text.slice(0, n)),
        (e: unknown) => e instanceof SnapshotFormatError && !e.message.includes("\n"),
        `cut at ${n}`,
      );
  });

  it("reads back any register set in every era (property)", () => {
    const ids: RegId[] = [
      MIDR_EL1,
      CCSIDR_0,
      PMCR_EL0,
      sysregId(3, 0, 2, 0, 0),
      FW_REGS.STD_BMAP,
      FW_REGS.PSCI_VERSION,
    ];
    const value = (id: RegId, v: bigint): RegValue => (id === CCSIDR_0 ? v & 0xffffffffn : v);
    fc.assert(
      fc.property(
        fc.constantFrom(...ERAS),
        fc.array(
          fc.array(fc.tuple(fc.constantFrom(...ids), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
            maxLength: 6,
          }),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        (era, sets) => {
          const vcpus = sets.map((set, i) => {
            const sys = new Map(set.map(([id, v]) => [id, value(id, v)]));
            return [...sampleVcpuRegs(i).slice(0, 75), ...sys];
          });
          const read = readCloudHypervisorState(writeCloudHypervisorState(vcpus, era));
          assert.deepEqual(
            read.snapshot.vcpus.map((v) => v.regs),
            vcpus.map((regs) => new Map(regs)),
          );
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe("Cloud Hypervisor's restore policy", () => {
  it("saves every listed register and aborts on the first KVM_SET_ONE_REG error, ENOENT included", () => {
    assert.equal(CLOUD_HYPERVISOR_POLICY.id, "cloud-hypervisor");
    assert.equal(CLOUD_HYPERVISOR_POLICY.label, "Cloud Hypervisor");
    assert.deepEqual(CLOUD_HYPERVISOR_POLICY.unsaved, []);
    assert.equal(CLOUD_HYPERVISOR_POLICY.missing.action, "abort");
    assert.equal(CLOUD_HYPERVISOR_POLICY.missing.skipped, undefined);
    assert.equal(CLOUD_HYPERVISOR_POLICY.count, undefined);
    assert.equal(CLOUD_HYPERVISOR_POLICY.writableImpIdRegs, false);
    assert.equal(
      fillError(CLOUD_HYPERVISOR_POLICY.missing.error!, {
        reg: "KVM_REG_ARM_VENDOR_HYP_BMAP_2",
        id: "0x6030000000160003",
        errno: "ENOENT",
      }),
      "Error creating vCPU: Could not set the vCPU state SetSysRegister(ENOENT) (KVM_SET_ONE_REG of KVM_REG_ARM_VENDOR_HYP_BMAP_2, 0x6030000000160003)",
    );
    assert.equal(CLOUD_HYPERVISOR_POLICY.refused.error, CLOUD_HYPERVISOR_POLICY.missing.error);
  });

  it("never gives a vCPU the features vcpu_set_processor_features does not request", () => {
    assert.deepEqual(
      CLOUD_HYPERVISOR_POLICY.refusedFeatures.map((f) => f.feature),
      [1, 5, 6, 7, 8], // EL1_32BIT, PTRAUTH_ADDRESS, PTRAUTH_GENERIC, HAS_EL2, HAS_EL2_E2H0
    );
    assert.equal(
      fillError(CLOUD_HYPERVISOR_POLICY.refusedFeatures[1]!.error, { reg: "PTRAUTH_ADDRESS" }),
      "Cloud Hypervisor's vCPUs never have PTRAUTH_ADDRESS: its restore initialises them without it",
    );
  });
});
