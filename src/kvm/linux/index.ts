/**
 * Opening the Linux KVM backend. Importing this module loads nothing native: koffi is imported only
 * inside openLinuxKvm(), after the host checks, so guestabi imports fine on any machine and only
 * opening fails, with one clear line (KvmUnavailableError).
 */
import fs from "node:fs";
import { KvmError, errnoName } from "../errors.js";
import type { KvmSystem } from "../types.js";
import { KVM_API_VERSION, KVM_IOCTL } from "../uapi.js";
import type { HostFacts } from "./availability.js";
import { DEFAULT_KVM_DEVICE, ffiProblem, hostProblem, notKvmProblem, openProblem } from "./availability.js";
import { LinuxKvmSystem } from "./backend.js";
import { KVM_RUN_LAYOUT } from "./kvm-run.js";
import type { Libc } from "./libc.js";
import { O_CLOEXEC, O_RDWR, Scratch, bindLibc } from "./libc.js";

export interface LinuxKvmOptions {
  /** The KVM device; default /dev/kvm. */
  device?: string;
  /** Host facts to check instead of process.platform/arch (tests). */
  host?: HostFacts;
}

async function loadLibc(host: HostFacts): Promise<Libc> {
  try {
    const koffi = (await import("koffi")).default;
    return bindLibc(koffi);
  } catch (e) {
    throw ffiProblem(host, e);
  }
}

/**
 * Opens /dev/kvm and checks it is KVM (API version 12). Throws KvmUnavailableError, one line, when
 * this host cannot run the backend: not Linux, not arm64, no /dev/kvm, no permission, koffi missing,
 * or a device that is not KVM.
 */
export async function openLinuxKvm(opts: LinuxKvmOptions = {}): Promise<KvmSystem> {
  const host = opts.host ?? { platform: process.platform, arch: process.arch };
  const problem = hostProblem(host);
  if (problem) throw problem;
  const device = opts.device ?? DEFAULT_KVM_DEVICE;
  if (!fs.statSync(device, { throwIfNoEntry: false })) throw openProblem(device, "ENOENT");

  const libc = await loadLibc(host);
  let fd: number;
  try {
    fd = libc.open(device, O_RDWR | O_CLOEXEC, `open ${device}`);
  } catch (e) {
    if (e instanceof KvmError) throw openProblem(device, e.errno);
    throw e;
  }
  try {
    const v = libc.ioctlValueRaw(fd, KVM_IOCTL.KVM_GET_API_VERSION, 0);
    if (v.result < 0) throw notKvmProblem(device, `KVM_GET_API_VERSION failed with ${errnoName(v.errno)}`);
    if (v.result !== KVM_API_VERSION)
      throw notKvmProblem(device, `KVM_GET_API_VERSION is ${v.result}, guestabi needs ${KVM_API_VERSION}`);
    const vcpuMmapSize = libc.ioctlValue(fd, KVM_IOCTL.KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
    if (vcpuMmapSize < KVM_RUN_LAYOUT.size)
      throw notKvmProblem(device, `KVM_GET_VCPU_MMAP_SIZE is ${vcpuMmapSize}, less than struct kvm_run`);
    return new LinuxKvmSystem({ libc, scratch: new Scratch(libc), vcpuMmapSize }, fd, device);
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

export { DEFAULT_KVM_DEVICE, ffiProblem, hostProblem, notKvmProblem, openProblem } from "./availability.js";
export type { HostFacts } from "./availability.js";
