// Guest-side smoke test (runs inside the lab VM under the arm64 node): kernel release, /dev/kvm,
// and two real KVM ioctls through koffi. Prints one JSON object on stdout.
import fs from "node:fs";
import { execFileSync } from "node:child_process";

const t0 = performance.now();
const result = {
  uname: execFileSync("uname", ["-r"], { encoding: "utf8" }).trim(),
  arch: process.arch,
  node: process.version,
  devKvm: fs.existsSync("/dev/kvm"),
};

const { default: koffi } = await import("koffi");
result.koffiImportMs = Math.round(performance.now() - t0);
result.koffi = koffi.version;

const libc = koffi.load("libc.so.6");
const open = libc.func("int open(const char *path, int flags, ...)");
const ioctl = libc.func("int ioctl(int fd, unsigned long request, ...)");
const close = libc.func("int close(int fd)");
const O_RDWR = 2,
  O_CLOEXEC = 0o2000000;
const KVM_GET_API_VERSION = 0xae00,
  KVM_CREATE_VM = 0xae01;

if (result.devKvm) {
  const kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) {
    result.openErrno = koffi.errno();
  } else {
    // Pass the unused third argument explicitly: KVM rejects GET_API_VERSION with EINVAL unless
    // arg == 0, and a variadic call without it leaves whatever was in x2.
    result.apiVersion = ioctl(kvm, KVM_GET_API_VERSION, "unsigned long", 0);
    // Machine type 0 = default IPA size (40 bits) on arm64.
    const vm = ioctl(kvm, KVM_CREATE_VM, "unsigned long", 0);
    result.createVm = vm >= 0 ? { ok: true, fd: vm } : { ok: false, errno: koffi.errno() };
    if (vm >= 0) close(vm);
    close(kvm);
  }
}
result.ok = result.devKvm && result.apiVersion === 12 && result.createVm?.ok === true;
result.totalMs = Math.round(performance.now() - t0);
console.log(JSON.stringify(result));
process.exitCode = result.ok ? 0 : 1;
