/**
 * vCPU register sets for the tests of the VMM snapshot readers: what KVM_GET_REG_LIST lists on an arm64
 * host, in its order (core, demux, system registers, firmware, firmware bitmaps, SVE), with made-up
 * values that differ per vCPU.
 */
import { COPROC, CORE_REGS, SVE_VLS_LOW, makeId, sysregId } from "../../regs/index.js";
import type { RegId } from "../../regs/index.js";
import { FW_REGS, regSizeBytes } from "../../kvm/index.js";
import type { RegValue } from "../../kvm/index.js";

export const MIDR_EL1 = sysregId(3, 0, 0, 0, 0);
export const MPIDR_EL1 = sysregId(3, 0, 0, 0, 5);
export const ID_AA64PFR0_EL1 = sysregId(3, 0, 0, 4, 0);
export const SCTLR_EL1 = sysregId(3, 0, 1, 0, 0);
export const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);
/** CCSIDR of CSSELR 0 (KVM_REG_ARM_DEMUX_ID_CCSIDR): a U32 register. */
export const CCSIDR_0 = makeId("U32", COPROC.demux, 0);
export const VLS = makeId("U512", COPROC.sve, SVE_VLS_LOW);
export const Z0 = makeId("U2048", COPROC.sve, 0);
export const PC = CORE_REGS.find((r) => r.name === "pc")!;

/** Bytes 0..size-1 of a made-up value, different per vCPU and register. */
function bytesOf(size: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (seed * 31 + i * 7) & 0xff);
}

/** A made-up value of the id's size: a bigint up to 8 bytes, bytes above. */
export function sampleValue(id: RegId, seed: number): RegValue {
  const size = regSizeBytes(id);
  const b = bytesOf(size, seed);
  if (size > 8) return b;
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

export interface SampleVcpuOptions {
  /** The PMU's registers (KVM lists them only with KVM_ARM_VCPU_PMU_V3: pmu_visibility). */
  pmu?: boolean;
  /** SVE: Z0 and KVM_REG_ARM64_SVE_VLS (vq 1 and 2); the V registers are then not listed. */
  sve?: boolean;
}

/** The registers of vCPU `index`, in KVM_GET_REG_LIST order, each value different. */
export function sampleVcpuRegs(index: number, o: SampleVcpuOptions = {}): [RegId, RegValue][] {
  const core = CORE_REGS.filter((r) => !(o.sve && r.name.startsWith("vregs")));
  const ids: RegId[] = [
    ...core.map((r) => makeId(r.size, COPROC.core, r.offset)),
    CCSIDR_0,
    MIDR_EL1,
    MPIDR_EL1,
    ID_AA64PFR0_EL1,
    SCTLR_EL1,
    ...(o.pmu ? [PMCR_EL0] : []),
    FW_REGS.PSCI_VERSION,
    FW_REGS.SMCCC_ARCH_WORKAROUND_1,
    FW_REGS.STD_BMAP,
    FW_REGS.VENDOR_HYP_BMAP,
    ...(o.sve ? [Z0, VLS] : []),
  ];
  return ids.map((id, k): [RegId, RegValue] => {
    if (id === VLS) return [id, Uint8Array.from({ length: 64 }, (_, i) => (i === 0 ? 0b11 : 0))];
    if (id === MPIDR_EL1) return [id, 0x8000_0000n | BigInt(index)];
    return [id, sampleValue(id, index * 1000 + k)];
  });
}
