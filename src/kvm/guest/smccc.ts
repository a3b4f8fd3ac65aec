/**
 * SMCCC function ids a guest can call, from include/linux/arm-smccc.h and include/uapi/linux/psci.h
 * (7.2; older trees define a subset, the numbers never change):
 *   ARM_SMCCC_CALL_VAL(type, conv, owner, func) = type << 31 | conv << 30 | (owner & 0x3f) << 24 | (func & 0xffff)
 * with type 1 = fast call, conv 0 = SMC32 / 1 = SMC64.
 */

export const SMCCC_FAST_CALL = 1;
export const SMCCC_SMC_32 = 0;
export const SMCCC_SMC_64 = 1;

export const SMCCC_OWNER = {
  ARCH: 0,
  CPU: 1,
  SIP: 2,
  OEM: 3,
  STANDARD: 4,
  STANDARD_HYP: 5,
  VENDOR_HYP: 6,
} as const;

export function smcccCallVal(type: number, conv: number, owner: number, func: number): number {
  return ((type << 31) | (conv << 30) | ((owner & 0x3f) << 24) | (func & 0xffff)) >>> 0;
}
const fast32 = (owner: number, func: number) => smcccCallVal(SMCCC_FAST_CALL, SMCCC_SMC_32, owner, func);
const fast64 = (owner: number, func: number) => smcccCallVal(SMCCC_FAST_CALL, SMCCC_SMC_64, owner, func);

/** Decoded fields of a function id. */
export function smcccFields(fid: number): { fast: boolean; smc64: boolean; owner: number; func: number } {
  return {
    fast: fid >>> 31 === 1,
    smc64: ((fid >>> 30) & 1) === 1,
    owner: (fid >>> 24) & 0x3f,
    func: fid & 0xffff,
  };
}

/** PSCI 0.2+ function ids (PSCI_0_2_FN / PSCI_0_2_FN64 and the 1.x additions) of uapi linux/psci.h. */
export const PSCI_FN = {
  PSCI_VERSION: fast32(4, 0),
  CPU_SUSPEND: fast32(4, 1),
  CPU_OFF: fast32(4, 2),
  CPU_ON: fast32(4, 3),
  AFFINITY_INFO: fast32(4, 4),
  MIGRATE: fast32(4, 5),
  MIGRATE_INFO_TYPE: fast32(4, 6),
  MIGRATE_INFO_UP_CPU: fast32(4, 7),
  SYSTEM_OFF: fast32(4, 8),
  SYSTEM_RESET: fast32(4, 9),
  PSCI_FEATURES: fast32(4, 10),
  CPU_FREEZE: fast32(4, 11),
  CPU_DEFAULT_SUSPEND: fast32(4, 12),
  NODE_HW_STATE: fast32(4, 13),
  SYSTEM_SUSPEND: fast32(4, 14),
  PSCI_SET_SUSPEND_MODE: fast32(4, 15),
  PSCI_STAT_RESIDENCY: fast32(4, 16),
  PSCI_STAT_COUNT: fast32(4, 17),
  SYSTEM_RESET2: fast32(4, 18),
  MEM_PROTECT: fast32(4, 19),
  MEM_PROTECT_CHECK_RANGE: fast32(4, 20),
  SYSTEM_OFF2: fast32(4, 21),
  CPU_SUSPEND64: fast64(4, 1),
  CPU_ON64: fast64(4, 3),
  AFFINITY_INFO64: fast64(4, 4),
  MIGRATE64: fast64(4, 5),
  MIGRATE_INFO_UP_CPU64: fast64(4, 7),
  CPU_DEFAULT_SUSPEND64: fast64(4, 12),
  NODE_HW_STATE64: fast64(4, 13),
  SYSTEM_SUSPEND64: fast64(4, 14),
  PSCI_STAT_RESIDENCY64: fast64(4, 16),
  PSCI_STAT_COUNT64: fast64(4, 17),
  SYSTEM_RESET2_64: fast64(4, 18),
  MEM_PROTECT_CHECK_RANGE64: fast64(4, 20),
  SYSTEM_OFF2_64: fast64(4, 21),
} as const;

/** Arm architecture calls (owner 0) and their discoverable workarounds. */
export const SMCCC_ARCH = {
  VERSION: fast32(0, 0),
  ARCH_FEATURES: fast32(0, 1),
  ARCH_SOC_ID: fast32(0, 2),
  ARCH_SOC_ID64: fast64(0, 2),
  ARCH_WORKAROUND_1: fast32(0, 0x8000),
  ARCH_WORKAROUND_2: fast32(0, 0x7fff),
  ARCH_WORKAROUND_3: fast32(0, 0x3fff),
} as const;

/** TRNG (DEN0098), owner STANDARD. */
export const TRNG_FN = {
  VERSION: fast32(4, 0x50),
  FEATURES: fast32(4, 0x51),
  GET_UUID: fast32(4, 0x52),
  RND32: fast32(4, 0x53),
  RND64: fast64(4, 0x53),
} as const;

/** Paravirtualised time (DEN0057A), owner STANDARD_HYP. */
export const PV_TIME_FN = {
  FEATURES: fast64(5, 0x20),
  ST: fast64(5, 0x21),
} as const;

/** KVM's vendor hypervisor service (owner VENDOR_HYP). */
export const KVM_VENDOR_FN = {
  /** ARM_SMCCC_VENDOR_HYP_CALL_UID_FUNC_ID (func ARM_SMCCC_FUNC_QUERY_CALL_UID 0xff01). */
  CALL_UID: fast32(6, 0xff01),
  /** ARM_SMCCC_VENDOR_HYP_KVM_FEATURES_FUNC_ID: x0 = bitmap of functions 0..31 (x2: 64..95 on 6.15+). */
  KVM_FEATURES: fast32(6, 0),
  /** ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID: x1 = KVM_PTP_VIRT_COUNTER / KVM_PTP_PHYS_COUNTER. */
  KVM_PTP: fast32(6, 1),
  /** ARM_SMCCC_VENDOR_HYP_KVM_DISCOVER_IMPL_VER_FUNC_ID (7.x; handled by the VMM via the SMCCC filter). */
  DISCOVER_IMPL_VER: fast64(6, 64),
  DISCOVER_IMPL_CPUS: fast64(6, 65),
} as const;

export const KVM_PTP_VIRT_COUNTER = 0n;
export const KVM_PTP_PHYS_COUNTER = 1n;

/** KVM's vendor hypervisor UID 28b46fb6-2ec5-11e9-a9ca-4b564d003a74, as CALL_UID returns it in x0..x3. */
export const KVM_VENDOR_UID_REGS = [0xb66fb428n, 0xe911c52en, 0x564bcaa9n, 0x743a004dn] as const;

/** SMCCC return codes (ARM DEN 0028), as the 64-bit x0 a guest reads. */
export const SMCCC_RET = {
  SUCCESS: 0n,
  NOT_SUPPORTED: BigInt.asUintN(64, -1n),
  NOT_REQUIRED: BigInt.asUintN(64, -2n),
  INVALID_PARAMETER: BigInt.asUintN(64, -3n),
} as const;

/** PSCI return codes (uapi linux/psci.h PSCI_RET_*). */
export const PSCI_RET = {
  SUCCESS: 0,
  NOT_SUPPORTED: -1,
  INVALID_PARAMS: -2,
  DENIED: -3,
  ALREADY_ON: -4,
  ON_PENDING: -5,
  INTERNAL_FAILURE: -6,
  NOT_PRESENT: -7,
  DISABLED: -8,
  INVALID_ADDRESS: -9,
} as const;

/** The name of a function id among the tables above, or its hex form. */
export function functionName(fid: number): string {
  for (const [prefix, table] of [
    ["PSCI_", PSCI_FN],
    ["SMCCC_", SMCCC_ARCH],
    ["TRNG_", TRNG_FN],
    ["PV_TIME_", PV_TIME_FN],
    ["VENDOR_HYP_", KVM_VENDOR_FN],
  ] as const) {
    for (const [name, id] of Object.entries(table))
      if (id === fid >>> 0) return name.startsWith(prefix) ? name : prefix + name;
  }
  return "0x" + (fid >>> 0).toString(16).padStart(8, "0");
}
