/**
 * The SMCCC/PSCI firmware KVM implements for a guest, per generation: kvm_hvc_call_handler (5.10, 6.1),
 * kvm_smccc_call_handler (6.4+: bitmaps + SMCCC filter), kvm_psci_call (psci.c), kvm_trng_call (trng.c).
 */
import {
  KVM_VENDOR_FN,
  KVM_VENDOR_UID_REGS,
  PSCI_FN,
  PV_TIME_FN,
  SMCCC_ARCH,
  TRNG_FN,
} from "../guest/smccc.js";
import { FW_REGS } from "../uapi.js";
import type { CpuModel } from "./cpus.js";
import type { GenerationModel } from "./generations.js";

const NOT_SUPPORTED = BigInt.asUintN(64, -1n);
const NOT_REQUIRED = BigInt.asUintN(64, -2n);
const WA_UNAFFECTED = 1n; // SMCCC_ARCH_WORKAROUND_RET_UNAFFECTED
const SMCCC_VERSION_1_1 = 0x10001n;
const TRNG_VERSION_1_0 = 0x10000n;
// trng.c arm_smc_trng_uuid 0d21e000-4384-11eb-8070-524455 4e5a4c, as smccc_uuid_to_reg words.
const TRNG_UUID_REGS = [0x00e0210dn, 0xeb118443n, 0x44527080n, 0x4c5a4e55n];
const KVM_PSCI_FN_BASE = 0x95c1ba5e; // KVM_PSCI_FN(0): PSCI 0.1's private ids

export interface HypercallContext {
  model: GenerationModel;
  cpu: CpuModel;
  psciVersion: bigint;
  bitmap(id: bigint): bigint;
  /** VM's ID_AA64PFR1_EL1.SSBS != 0 (6.12+ kvm_has_feat) or the host's ARM64_SSBS (5.10/6.1). */
  ssbs: boolean;
  /** A monotonically increasing fake counter for KVM_PTP. */
  now(): bigint;
}

export type HypercallResult =
  { kind: "ret"; x: [bigint, bigint, bigint, bigint] } | { kind: "off" } | { kind: "reset" };

const ret = (x0: bigint, x1 = 0n, x2 = 0n, x3 = 0n): HypercallResult => ({
  kind: "ret",
  x: [x0, x1, x2, x3],
});
const u64 = (n: number | bigint) => BigInt.asUintN(64, BigInt(n));

function testBit(ctx: HypercallContext, id: bigint, bit: number): boolean {
  return ((ctx.bitmap(id) >> BigInt(bit)) & 1n) === 1n;
}

/** kvm_smccc_test_fw_bmap / kvm_hvc_call_allowed: is a bitmap-gated call enabled? undefined if not gated. */
function bitmapGate(ctx: HypercallContext, fid: number): boolean | undefined {
  if (!ctx.model.bitmaps.length) return undefined;
  switch (fid) {
    case TRNG_FN.VERSION:
    case TRNG_FN.FEATURES:
    case TRNG_FN.GET_UUID:
    case TRNG_FN.RND32:
    case TRNG_FN.RND64:
      return testBit(ctx, FW_REGS.STD_BMAP, 0);
    case PV_TIME_FN.FEATURES:
    case PV_TIME_FN.ST:
      return testBit(ctx, FW_REGS.STD_HYP_BMAP, 0);
    case KVM_VENDOR_FN.KVM_FEATURES:
    case KVM_VENDOR_FN.CALL_UID:
      return testBit(ctx, FW_REGS.VENDOR_HYP_BMAP, 0);
    case KVM_VENDOR_FN.KVM_PTP:
      return testBit(ctx, FW_REGS.VENDOR_HYP_BMAP, 1);
    default:
      return undefined;
  }
}

/** kvm_smccc_default_allowed / kvm_hvc_call_default_allowed. */
function defaultAllowed(fid: number): boolean {
  if (fid === SMCCC_ARCH.VERSION || fid === SMCCC_ARCH.ARCH_FEATURES) return true;
  if (((fid >>> 24) & 0x3f) === 4 && (fid & 0xffff) <= 0x1f) return true;
  return fid >= KVM_PSCI_FN_BASE && fid <= KVM_PSCI_FN_BASE + 3;
}

/** SMCCC_ARCH_FEATURES answers of the workarounds (kvm_hvc_call_handler / kvm_smccc_call_handler). */
export function archFeatures(ctx: HypercallContext, feature: number): bigint {
  const s = ctx.cpu.spectre;
  switch (feature) {
    case SMCCC_ARCH.ARCH_WORKAROUND_1:
      return s.v2 === "MITIGATED" ? 0n : s.v2 === "UNAFFECTED" ? WA_UNAFFECTED : NOT_SUPPORTED;
    case SMCCC_ARCH.ARCH_WORKAROUND_2:
      if (s.v4 === "VULNERABLE") return NOT_SUPPORTED;
      if (s.v4 === "MITIGATED" && ctx.ssbs) return NOT_SUPPORTED;
      return NOT_REQUIRED;
    case SMCCC_ARCH.ARCH_WORKAROUND_3:
      return s.bhb === "MITIGATED" ? 0n : s.bhb === "UNAFFECTED" ? WA_UNAFFECTED : NOT_SUPPORTED;
    case PV_TIME_FN.FEATURES:
      if (!ctx.model.pvTimeGated) return 0n;
      return testBit(ctx, FW_REGS.STD_HYP_BMAP, 0) ? 0n : NOT_SUPPORTED;
    default:
      return NOT_SUPPORTED;
  }
}

/** The SMCCC call of a guest HVC (or of an SMC #0 on 6.4+), x0..x3 in, result out. */
export function smcccCall(ctx: HypercallContext, x: readonly bigint[]): HypercallResult {
  const fid = Number(x[0]! & 0xffffffffn);
  const m = ctx.model;
  const gate = bitmapGate(ctx, fid);
  if (
    gate === false ||
    (gate === undefined && m.bitmaps.length && !defaultAllowed(fid) && !isHandledUngated(fid))
  )
    return ret(NOT_SUPPORTED);
  switch (fid) {
    case SMCCC_ARCH.VERSION:
      return ret(SMCCC_VERSION_1_1);
    case SMCCC_ARCH.ARCH_FEATURES:
      return ret(archFeatures(ctx, Number(x[1]! & 0xffffffffn)));
    case PV_TIME_FN.FEATURES:
      // kvm_hypercall_pv_features: SUCCESS only once userspace set the stolen-time base (never here).
      return ret(NOT_SUPPORTED);
    case PV_TIME_FN.ST:
      return ret(NOT_SUPPORTED);
  }
  if (m.vendorHyp) {
    switch (fid) {
      case KVM_VENDOR_FN.CALL_UID:
        return ret(...(KVM_VENDOR_UID_REGS as unknown as [bigint, bigint, bigint, bigint]));
      case KVM_VENDOR_FN.KVM_FEATURES:
        return ret(
          ctx.bitmap(FW_REGS.VENDOR_HYP_BMAP),
          0n,
          m.vendorFeaturesX2 ? ctx.bitmap(FW_REGS.VENDOR_HYP_BMAP_2) : 0n,
        );
      case KVM_VENDOR_FN.KVM_PTP: {
        const t = ctx.now();
        const k = x[1]!;
        if (k !== 0n && k !== 1n) return ret(NOT_SUPPORTED);
        return ret(t >> 32n, t & 0xffffffffn, t >> 32n, t & 0xffffffffn);
      }
    }
  }
  if (m.trng) {
    switch (fid) {
      case TRNG_FN.VERSION:
        return ret(TRNG_VERSION_1_0);
      case TRNG_FN.FEATURES: {
        const f = Number(x[1]! & 0xffffffffn);
        return ret((Object.values(TRNG_FN) as number[]).includes(f) ? 0n : NOT_SUPPORTED);
      }
      case TRNG_FN.GET_UUID:
        return ret(...(TRNG_UUID_REGS as [bigint, bigint, bigint, bigint]));
      case TRNG_FN.RND32:
      case TRNG_FN.RND64:
        return ret(0n, 0n, 0x5eed5eedn, 0x5eed5eedn);
    }
  }
  return psciCall(ctx, fid, x);
}

function isHandledUngated(_fid: number): boolean {
  return false;
}

const PSCI_0_2_CORE = new Set<number>([
  PSCI_FN.PSCI_VERSION,
  PSCI_FN.CPU_SUSPEND,
  PSCI_FN.CPU_SUSPEND64,
  PSCI_FN.CPU_OFF,
  PSCI_FN.CPU_ON,
  PSCI_FN.CPU_ON64,
  PSCI_FN.AFFINITY_INFO,
  PSCI_FN.AFFINITY_INFO64,
  PSCI_FN.MIGRATE_INFO_TYPE,
  PSCI_FN.SYSTEM_OFF,
  PSCI_FN.SYSTEM_RESET,
]);

/** kvm_psci_call: by the VM's PSCI version (0.1: KVM's private ids only; 0.2; 1.x with PSCI_FEATURES). */
export function psciCall(ctx: HypercallContext, fid: number, x: readonly bigint[]): HypercallResult {
  const ver = ctx.psciVersion;
  if (ver === 1n) {
    // kvm_psci_0_1_call: KVM_PSCI_FN_CPU_SUSPEND/CPU_OFF/CPU_ON/MIGRATE
    return ret(NOT_SUPPORTED);
  }
  const minor = ver >= 0x10000n ? Number(ver & 0xffffn) : -1;
  if (minor >= 0) {
    // kvm_psci_1_x_call
    switch (fid) {
      case PSCI_FN.PSCI_VERSION:
        return ret(ver);
      case PSCI_FN.PSCI_FEATURES: {
        const f = Number(x[1]! & 0xffffffffn);
        if (PSCI_0_2_CORE.has(f) || f === PSCI_FN.PSCI_FEATURES || f === SMCCC_ARCH.VERSION) return ret(0n);
        if ((f === PSCI_FN.SYSTEM_RESET2 || f === PSCI_FN.SYSTEM_RESET2_64) && minor >= 1) return ret(0n);
        // SYSTEM_OFF2 (1.3): PSCI_1_3_OFF_TYPE_HIBERNATE_OFF
        if ((f === PSCI_FN.SYSTEM_OFF2 || f === PSCI_FN.SYSTEM_OFF2_64) && minor >= 3) return ret(1n);
        // SYSTEM_SUSPEND needs KVM_CAP_ARM_SYSTEM_SUSPEND enabled (not by default)
        return ret(NOT_SUPPORTED);
      }
      case PSCI_FN.SYSTEM_RESET2:
      case PSCI_FN.SYSTEM_RESET2_64:
        if (minor >= 1) return { kind: "reset" };
        return ret(NOT_SUPPORTED);
    }
  }
  // kvm_psci_0_2_call
  switch (fid) {
    case PSCI_FN.PSCI_VERSION:
      return ret(2n);
    case PSCI_FN.MIGRATE_INFO_TYPE:
      return ret(2n); // KVM_ARM_PSCI_0_2 TOS not present / MP
    case PSCI_FN.MIGRATE:
    case PSCI_FN.MIGRATE64:
    case PSCI_FN.MIGRATE_INFO_UP_CPU:
    case PSCI_FN.MIGRATE_INFO_UP_CPU64:
      return ret(NOT_SUPPORTED);
    case PSCI_FN.SYSTEM_OFF:
      return { kind: "off" };
    case PSCI_FN.SYSTEM_RESET:
      return { kind: "reset" };
    case PSCI_FN.AFFINITY_INFO:
    case PSCI_FN.AFFINITY_INFO64:
      return ret(0n); // ON (a single vCPU asking about itself)
    default:
      return ret(u64(-1));
  }
}
