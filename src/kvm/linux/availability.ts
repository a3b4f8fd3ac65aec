/**
 * Whether the Linux KVM backend can run here, with one-line reasons when it cannot. Pure functions of
 * the facts (platform, arch, errno of opening /dev/kvm), so the messages are testable anywhere.
 */
import { KvmUnavailableError, errnoDescription, errnoName } from "../errors.js";
import type { ErrnoName } from "../errors.js";

export const DEFAULT_KVM_DEVICE = "/dev/kvm";

export interface HostFacts {
  /** process.platform */
  platform: string;
  /** process.arch */
  arch: string;
}

/** The reason the host cannot run the backend at all (wrong OS or CPU), or undefined. */
export function hostProblem(facts: HostFacts): KvmUnavailableError | undefined {
  if (facts.platform !== "linux")
    return new KvmUnavailableError(
      "platform",
      `guestabi's KVM backend needs an arm64 Linux host with KVM; this is ${facts.platform}/${facts.arch}`,
    );
  if (facts.arch !== "arm64")
    return new KvmUnavailableError(
      "arch",
      `guestabi's KVM backend needs an arm64 host; this is ${facts.arch}`,
    );
  return undefined;
}

/** The error for a failed open() of the KVM device, by errno (name or number). */
export function openProblem(device: string, errno: ErrnoName | number): KvmUnavailableError {
  const name = typeof errno === "number" ? errnoName(errno) : errno;
  switch (name) {
    case "ENOENT":
      return new KvmUnavailableError(
        "no-kvm",
        `${device} not found: this host has no KVM (need an arm64 Linux host with KVM)`,
      );
    case "EACCES":
    case "EPERM":
      return new KvmUnavailableError(
        "permission",
        `permission denied opening ${device}: add this user to the device's group (usually 'kvm') or run as root`,
      );
    case "ENODEV":
    case "ENXIO":
      return new KvmUnavailableError(
        "no-kvm",
        `${device} exists but KVM is not usable (${name}): the kernel found no usable virtualization support (see dmesg | grep -i kvm)`,
      );
    default: {
      const desc = errnoDescription(name);
      return new KvmUnavailableError(
        "open-failed",
        `cannot open ${device}: ${name}${desc ? ` (${desc})` : ""}`,
      );
    }
  }
}

/** The error for a device that opened but does not answer KVM_GET_API_VERSION like KVM. */
export function notKvmProblem(device: string, detail: string): KvmUnavailableError {
  return new KvmUnavailableError("no-kvm", `${device} is not a KVM device: ${detail}`);
}

/** The error for koffi (guestabi's FFI library) failing to load. */
export function ffiProblem(facts: HostFacts, cause: unknown): KvmUnavailableError {
  const msg = (cause instanceof Error ? cause.message : String(cause)).split("\n")[0] ?? "";
  return new KvmUnavailableError(
    "ffi",
    `cannot load koffi for ${facts.platform}-${facts.arch} (its native package @koromix/koffi-${facts.platform}-${facts.arch} must sit beside koffi at the same version): ${msg}`,
  );
}
