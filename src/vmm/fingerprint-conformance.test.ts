/**
 * The simulator against Firecracker's nine public host fingerprints (src/vmm/testdata/firecracker): each
 * simulated host, the vendor kernel generation of its fingerprint on the silicon CPU model, configured as
 * Firecracker configures vCPU 0, lists exactly the fingerprint's registers and reads the same values.
 *
 * Firecracker's vCPU configuration (src/vmm/src/arch/aarch64/vcpu.rs, Firecracker 81b38b9d): KVM's
 * preferred target with PSCI_0_2 only (no PMU, no SVE); before it dumps, setup_boot_regs writes PSTATE,
 * PC and X0, and arch/aarch64/mod.rs override_clidr writes CLIDR_EL1's cache types from the host's sysfs.
 * The dump (src/cpu-template-helper/src/template/dump/aarch64.rs) leaves out PC, KVM_REG_ARM_TIMER_CNT and
 * KVM_REG_ARM_PTIMER_CNT (DUMP_EXCLUDED) and registers wider than 128 bits.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeId, formatId, nameOf } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import {
  CORE_PSTATE,
  VCPU_FEATURES,
  coreXReg,
  getRegList,
  normalizeVcpuInit,
  regSizeBytes,
} from "../kvm/index.js";
import { SimSystem } from "../kvm/sim/index.js";
import { bytesToBigint } from "../check/registry.js";
import type { SimGeneration, SimVcpu } from "../kvm/sim/index.js";
import { DUMP_EXCLUDED, readFirecrackerEvidence } from "./firecracker-evidence.js";
import { FINGERPRINT_FIXTURES } from "./testing/firecracker-fixtures.js";
import type { FingerprintFixture } from "./testing/firecracker-fixtures.js";

/** The simulated kernel of each fingerprint's host kernel (5.10.255-amzn2, 6.1.172-amzn2023, 6.18.30-amzn2023). */
const GENERATION: Record<FingerprintFixture["kernel"], SimGeneration> = {
  "5.10": "5.10-amzn",
  "6.1": "6.1-amzn",
  "6.18": "6.18",
};
/** Graviton2, 3 and 4. */
const CPU: Record<FingerprintFixture["cpu"], string> = {
  N1: "neoverse-n1-silicon",
  V1: "neoverse-v1-silicon",
  V2: "neoverse-v2-silicon",
};

const CLIDR_EL1 = 0x603000000013c801n;
/** vcpu.rs PSTATE_FAULT_BITS_64: EL1h with D, A, I and F masked (KVM's reset value too). */
const PSTATE_FAULT_BITS_64 = 0x3c5n;

/**
 * What Firecracker wrote before it dumped, so what the simulator reads differently until the same writes:
 * the register, the simulator's value after KVM_ARM_VCPU_INIT, the fingerprint's, and why.
 */
interface FirecrackerWrite {
  id: RegId;
  simulated: bigint;
  fingerprint: bigint;
  why: string;
}
function firecrackerWrites(kernel: FingerprintFixture["kernel"]): FirecrackerWrite[] {
  const x0: FirecrackerWrite = {
    id: coreXReg(0),
    simulated: 0n,
    // get_fdt_addr: the FDT's 2 MiB at the end of the fingerprint VM's 128 MiB of memory from 0x8000_0000
    fingerprint: 0x8000_0000n + 128n * 2n ** 20n - 2n * 2n ** 20n,
    why: "setup_boot_regs: X0 = the FDT's address",
  };
  if (kernel !== "6.18") return [x0]; // override_clidr: the hardware's CLIDR already matches sysfs
  return [
    x0,
    {
      id: CLIDR_EL1,
      simulated: 0x1000004n, // reset_clidr: CTR_EL0 has IDC and DIC, so one unified cache at LoC 1
      fingerprint: 0x3000123n, // Ctype1 separate, Ctype2 and Ctype3 unified, LoC 3: the host's L1, L2, L3
      why: "override_clidr: Ctype and LoC from the host's sysfs caches, over KVM's fabricated CLIDR (6.3+)",
    },
  ];
}

function read(v: SimVcpu, id: RegId): bigint {
  const x = v.getOneReg(id);
  return typeof x === "bigint" ? x : bytesToBigint(x);
}

/** vCPU 0 of a Firecracker VM on the simulated host: its dump's ids and values. */
function simulate(f: FingerprintFixture, writes: readonly FirecrackerWrite[]): Map<RegId, bigint> {
  const sys = new SimSystem({ generation: GENERATION[f.kernel], cpu: CPU[f.cpu] });
  const vm = sys.createVm();
  const v = vm.createVcpu(0);
  v.init(normalizeVcpuInit({ target: vm.preferredTarget().target, features: [VCPU_FEATURES.PSCI_0_2] }));
  v.setOneReg(CORE_PSTATE, PSTATE_FAULT_BITS_64);
  for (const w of writes) v.setOneReg(w.id, w.fingerprint);
  // the dump's order: sorted by id
  const ids = getRegList(v)
    .filter((id) => !DUMP_EXCLUDED.includes(id) && regSizeBytes(id) <= 16)
    .sort((a, b) => (a < b ? -1 : 1));
  const out = new Map(ids.map((id) => [id, read(v, id)] as const));
  sys.close();
  return out;
}

const fingerprintRegs = (f: FingerprintFixture) =>
  new Map(readFirecrackerEvidence(f.text, f.file).regs.map((r) => [r.id, r.value] as const));
const hex = (x: bigint) => "0x" + x.toString(16);
const named = (m: ReadonlyMap<RegId, bigint>, keep: (id: RegId) => boolean) =>
  [...m].filter(([id]) => keep(id)).map(([id, x]) => `${nameOf(id).name} ${hex(x)}`);
/** The firmware registers: KVM_REG_ARM_FW (coproc 0x14) and the hypercall bitmaps (0x16). */
const isFirmware = (id: RegId) => ["fw", "fwBitmap"].includes(decodeId(id).class);
const isIdRegister = (id: RegId) => {
  const d = decodeId(id);
  return d.class === "sysreg" && d.op0 === 3 && d.op1 === 0 && d.crn === 0;
};

describe("the simulator reproduces Firecracker's nine public fingerprints", () => {
  for (const f of FINGERPRINT_FIXTURES) {
    const label = `${GENERATION[f.kernel]}/${CPU[f.cpu]} = ${f.file}`;
    it(label, () => {
      const fp = fingerprintRegs(f);
      const writes = firecrackerWrites(f.kernel);
      const before = simulate(f, []);

      // exactly the fingerprint's ids
      assert.deepEqual([...before.keys()].map(formatId), [...fp.keys()].map(formatId));
      // the firmware registers (PSCI version, workaround levels, hypercall bitmaps) and the ID registers
      assert.deepEqual(named(before, isFirmware), named(fp, isFirmware));
      assert.deepEqual(named(before, isIdRegister), named(fp, isIdRegister));
      // every other register too, except what Firecracker wrote before the dump
      const differing = [...fp].filter(([id, x]) => before.get(id) !== x).map(([id]) => id);
      assert.deepEqual(
        differing.map((id) => `${nameOf(id).name} ${hex(before.get(id)!)} -> ${hex(fp.get(id)!)}`),
        writes.map((w) => `${nameOf(w.id).name} ${hex(w.simulated)} -> ${hex(w.fingerprint)}`),
      );
      // and with Firecracker's writes (which the simulated KVM accepts) nothing differs
      assert.deepEqual(
        named(simulate(f, writes), () => true),
        named(fp, () => true),
      );
    });
  }
});
