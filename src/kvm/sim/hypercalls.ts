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
import { spectreState } from "./spectre.js";
import { WIDGET_FUNCTION_NUMBER } from "../kernels/generations.js";
import { HYPERCALL_SERVICE } from "../kernels/model.js";
import type { GenerationModel } from "../kernels/model.js";

const NOT_SUPPORTED = BigInt.asUintN(64, -1n);
const NOT_REQUIRED = BigInt.asUintN(64, -2n);
const WA_UNAFFECTED = 1n; // SMCCC_ARCH_WORKAROUND_RET_UNAFFECTED
const SMCCC_VERSION_1_1 = 0x10001n;
const TRNG_VERSION_1_0 = 0x10000n;
// trng.c arm_smc_trng_uuid 0d21e000-4384-11eb-8070-524455 4e5a4c, as smccc_uuid_to_reg words.
const TRNG_UUID_REGS = [0x00e0210dn, 0xeb118443n, 0x44527080n, 0x4c5a4e55n];
const KVM_PSCI_FN_BASE = 0x95c1ba5e; // KVM_PSCI_FN(0): PSCI 0.1's private ids
/** KVM_FEATURES before the firmware bitmaps (5.12..5.18 kvm_hvc_call_handler): FUNC_FEATURES | FUNC_PTP. */
const VENDOR_FEATURES_UNGATED = 0b11n;

export interface HypercallContext {
  model: GenerationModel;
  cpu: CpuModel;
  psciVersion: bigint;
  bitmap(id: bigint): bigint;
  /** VM's ID_AA64PFR1_EL1.SSBS != 0 (6.12+ kvm_has_feat) or the host's ARM64_SSBS (5.10/6.1). */
  ssbs: boolean;
  /** A monotonically increasing fake counter for KVM_PTP. */
  now(): bigint;
  /**
   * The VM's revision of a hypercall service (kernels/model.ts HYPERCALL_SERVICE; 0 = absent). Without the
   * proposals it is always the newest the generation implements, which changes nothing upstream.
   */
  revision(service: number): bigint;
  /** GUESTABI_CAP.HYPERCALL_IDENTITY is enabled: the KVM vendor service answers Call Revision. */
  identityCap: boolean;
}

/**
 * A call's result: x0..x3 to return, or a system event to exit with ("off": SHUTDOWN, with `flags` such as
 * KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2; "reset": RESET, with KVM_SYSTEM_EVENT_RESET_FLAG_PSCI_RESET2). `preload` are the registers KVM sets before the
 * exit, for a VMM that ignores it and runs the vCPU again (psci.c: "Preload a return value of
 * INTERNAL_FAILURE"): x0..x3 for SYSTEM_OFF, SYSTEM_RESET and SYSTEM_OFF2 (smccc_set_retval), x0 alone for
 * SYSTEM_RESET2 (vcpu_set_reg).
 */
export type HypercallResult =
  | { kind: "ret"; x: [bigint, bigint, bigint, bigint] }
  | { kind: "off"; preload: bigint[]; flags?: bigint }
  | { kind: "reset"; preload: bigint[]; flags?: bigint };

/** "next"'s WIDGET call (synthetic): ARM_SMCCC_CALL_VAL(FAST, SMC32, VENDOR_HYP, 66). */
export const WIDGET_FN = (0x86000000 | WIDGET_FUNCTION_NUMBER) >>> 0;
/** SMCCC Call Revision of the vendor-hypervisor range (DEN0028 "Call Revision Query", 0xff03). */
export const VENDOR_HYP_CALL_REVISION = 0x8600ff03;

const ret = (x0: bigint, x1 = 0n, x2 = 0n, x3 = 0n): HypercallResult => ({
  kind: "ret",
  x: [x0, x1, x2, x3],
});
const u64 = (n: number | bigint) => BigInt.asUintN(64, BigInt(n));
const M64 = (1n << 64n) - 1n;
const PSCI_RET_INTERNAL_FAILURE = u64(-6);
const PSCI_RET_INVALID_PARAMS = u64(-2);
/** smccc_set_retval(vcpu, PSCI_RET_INTERNAL_FAILURE, 0, 0, 0). */
const PRELOAD_X0_3 = [PSCI_RET_INTERNAL_FAILURE, 0n, 0n, 0n];

function testBit(ctx: HypercallContext, id: bigint, bit: number): boolean {
  return ((ctx.bitmap(id) >> BigInt(bit)) & 1n) === 1n;
}

/** The service (and bitmap bit) gating each function: kvm_smccc_test_fw_bmap (6.0+), plus "next"'s WIDGET. */
const GATES = new Map<number, { service: number; bit?: { id: bigint; bit: number } }>([
  ...[TRNG_FN.VERSION, TRNG_FN.FEATURES, TRNG_FN.GET_UUID, TRNG_FN.RND32, TRNG_FN.RND64].map(
    (f) => [f, { service: HYPERCALL_SERVICE.TRNG, bit: { id: FW_REGS.STD_BMAP, bit: 0 } }] as const,
  ),
  ...[PV_TIME_FN.FEATURES, PV_TIME_FN.ST].map(
    (f) => [f, { service: HYPERCALL_SERVICE.PV_TIME, bit: { id: FW_REGS.STD_HYP_BMAP, bit: 0 } }] as const,
  ),
  ...[KVM_VENDOR_FN.KVM_FEATURES, KVM_VENDOR_FN.CALL_UID].map(
    (f) =>
      [f, { service: HYPERCALL_SERVICE.KVM_VENDOR, bit: { id: FW_REGS.VENDOR_HYP_BMAP, bit: 0 } }] as const,
  ),
  [
    KVM_VENDOR_FN.KVM_PTP,
    { service: HYPERCALL_SERVICE.KVM_VENDOR, bit: { id: FW_REGS.VENDOR_HYP_BMAP, bit: 1 } },
  ],
  [WIDGET_FN, { service: HYPERCALL_SERVICE.WIDGET, bit: { id: FW_REGS.VENDOR_HYP_BMAP_2, bit: 2 } }],
]);

/**
 * kvm_smccc_test_fw_bmap / kvm_hvc_call_allowed: is a gated call enabled? undefined if the generation
 * does not gate it. A service at revision 0, or older than the function's, disables it (proposal (a)).
 */
function bitmapGate(ctx: HypercallContext, fid: number): boolean | undefined {
  const g = GATES.get(fid);
  if (!g) return undefined;
  const svc = ctx.model.services.find((s) => s.service === g.service);
  if (!svc) return undefined;
  const rev = ctx.revision(g.service);
  const since =
    svc.bits.find((b) => g.bit && b.id === g.bit.id && b.bit === g.bit.bit)?.since ?? svc.revisions[0]!;
  if (rev === 0n || rev < since) return false;
  if (g.bit && ctx.model.bitmaps.length) return testBit(ctx, g.bit.id, g.bit.bit);
  return true;
}

/** kvm_smccc_default_allowed / kvm_hvc_call_default_allowed. */
function defaultAllowed(fid: number): boolean {
  if (fid === SMCCC_ARCH.VERSION || fid === SMCCC_ARCH.ARCH_FEATURES) return true;
  if (((fid >>> 24) & 0x3f) === 4 && (fid & 0xffff) <= 0x1f) return true;
  return fid >= KVM_PSCI_FN_BASE && fid <= KVM_PSCI_FN_BASE + 3;
}

/** SMCCC_ARCH_FEATURES answers of the workarounds (kvm_hvc_call_handler / kvm_smccc_call_handler). */
export function archFeatures(ctx: HypercallContext, feature: number): bigint {
  const s = spectreState(ctx.model.data, ctx.cpu); // proton-pack.c states of the host kernel
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
      if (ctx.revision(HYPERCALL_SERVICE.PV_TIME) === 0n) return NOT_SUPPORTED;
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
    (gate === undefined && m.bitmaps.length && !defaultAllowed(fid) && !isHandledUngated(ctx, fid))
  )
    return ret(NOT_SUPPORTED);
  switch (fid) {
    case SMCCC_ARCH.VERSION:
      return ret(ctx.revision(HYPERCALL_SERVICE.SMCCC) || SMCCC_VERSION_1_1);
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
          m.bitmaps.length ? ctx.bitmap(FW_REGS.VENDOR_HYP_BMAP) : VENDOR_FEATURES_UNGATED,
          0n,
          m.vendorFeaturesX2 ? ctx.bitmap(FW_REGS.VENDOR_HYP_BMAP_2) : 0n,
        );
      case KVM_VENDOR_FN.KVM_PTP: {
        const t = ctx.now();
        const k = x[1]!;
        if (k !== 0n && k !== 1n) return ret(NOT_SUPPORTED);
        return ret(t >> 32n, t & 0xffffffffn, t >> 32n, t & 0xffffffffn);
      }
      case VENDOR_HYP_CALL_REVISION: {
        // Proposal (a) only: upstream KVM does not implement the vendor range's Call Revision.
        const rev = ctx.revision(HYPERCALL_SERVICE.KVM_VENDOR);
        if (!ctx.identityCap || rev === 0n) return ret(NOT_SUPPORTED);
        return ret(rev >> 16n, rev & 0xffffn);
      }
      case WIDGET_FN:
        // "next"'s synthetic service: SUCCESS and its revision.
        if (!m.services.some((s) => s.service === HYPERCALL_SERVICE.WIDGET)) break;
        return ret(0n, ctx.revision(HYPERCALL_SERVICE.WIDGET));
    }
  }
  if (m.trng) {
    switch (fid) {
      case TRNG_FN.VERSION:
        return ret(ctx.revision(HYPERCALL_SERVICE.TRNG) || TRNG_VERSION_1_0);
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

/** Calls KVM handles outside kvm_smccc_default_allowed and the bitmaps: proposal (a)'s Call Revision. */
function isHandledUngated(ctx: HypercallContext, fid: number): boolean {
  return ctx.identityCap && fid === VENDOR_HYP_CALL_REVISION;
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
      case PSCI_FN.SYSTEM_RESET2_64: {
        if (minor < 1) return ret(NOT_SUPPORTED);
        // kvm_psci_1_x_call: SYSTEM_WARM_RESET (0) or a vendor reset type (bit 31); kvm_psci_narrow_to_32bit
        const arg = fid === PSCI_FN.SYSTEM_RESET2 ? x[1]! & 0xffffffffn : x[1]!;
        if (arg === 0n || arg >= 0x80000000n)
          return { kind: "reset", preload: [PSCI_RET_INTERNAL_FAILURE], flags: 1n }; // ..._RESET_FLAG_PSCI_RESET2
        return ret(PSCI_RET_INVALID_PARAMS);
      }
      case PSCI_FN.SYSTEM_OFF2:
      case PSCI_FN.SYSTEM_OFF2_64: {
        if (minor < 3) return ret(NOT_SUPPORTED);
        // HIBERNATE_OFF (1) or 0 in arg1, 0 in arg2; KVM_SYSTEM_EVENT_SHUTDOWN_FLAG_PSCI_OFF2
        const narrow = fid === PSCI_FN.SYSTEM_OFF2 ? 0xffffffffn : M64;
        const arg1 = x[1]! & narrow;
        if ((arg1 !== 0n && arg1 !== 1n) || (x[2]! & narrow) !== 0n) return ret(PSCI_RET_INVALID_PARAMS);
        return { kind: "off", preload: PRELOAD_X0_3, flags: 1n };
      }
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
      return { kind: "off", preload: PRELOAD_X0_3 };
    case PSCI_FN.SYSTEM_RESET:
      return { kind: "reset", preload: PRELOAD_X0_3 };
    case PSCI_FN.AFFINITY_INFO:
    case PSCI_FN.AFFINITY_INFO64:
      return ret(0n); // ON (a single vCPU asking about itself)
    default:
      return ret(u64(-1));
  }
}
