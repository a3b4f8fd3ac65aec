/**
 * The `--vmm` names and the QEMU versions modelled, apart from the VMMs' tables (policies.ts, qemu.ts)
 * so that the command line's help names them without loading those tables.
 */
export const QEMU_VERSIONS = ["7.2", "10.0", "11.1"] as const;
export type QemuVersion = (typeof QEMU_VERSIONS)[number];
/** `--vmm qemu` without a version: the newest. */
export const QEMU_DEFAULT_VERSION: QemuVersion = "11.1";

/**
 * Every `--vmm` name, in the order help shows them: each policy's id (policies.ts has one for each,
 * its test holds them equal) and "qemu", the newest QEMU.
 */
export const VMM_NAMES: readonly string[] = [
  "guestabi",
  ...QEMU_VERSIONS.map((v) => `qemu@${v}`),
  "firecracker",
  "cloud-hypervisor",
  "crosvm",
  "qemu",
];

/** The one line for a `--vmm` name that is not in VMM_NAMES. */
export const unknownVmmMessage = (name: string): string =>
  `unknown VMM '${name}' (known: ${VMM_NAMES.join(", ")})`;
