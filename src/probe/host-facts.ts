/**
 * Facts a Linux host shows about its CPU and firmware, recorded in a profile so that a simulator of
 * that kernel and CPU can be checked against them: the Spectre/Meltdown states
 * (/sys/devices/system/cpu/vulnerabilities/*, from arch/arm64/kernel/proton-pack.c and cpufeature.c),
 * the boot CPU's MIDR_EL1/REVIDR_EL1 (cpuinfo.c's sysfs identification files) and the kernel log
 * lines about PSCI, SMCCC and KVM (psci_probe(), kvm_arm_init()...).
 */
import fs from "node:fs";
import path from "node:path";
import { errnoName } from "../kvm/index.js";
import type { HostFacts } from "../formats/profile.js";

const VULNERABILITIES = "sys/devices/system/cpu/vulnerabilities";
const IDENTIFICATION = "sys/devices/system/cpu/cpu0/regs/identification";
const KMSG = "dev/kmsg";
const INTERESTING = /psci|smccc|kvm/i;
const MAX_LOG_BYTES = 8 * 1024 * 1024;

function errnoOf(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (typeof err.errno === "number") return errnoName(Math.abs(err.errno));
  return typeof err.code === "string" && /^E[A-Z0-9]+$/.test(err.code) ? err.code : "EIO";
}

/** Control characters (which profiles do not allow) as spaces. */
// eslint-disable-next-line no-control-regex
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f]/g, " ");

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

function readHexRegister(file: string): bigint | null {
  const t = readTrimmed(file);
  return t && /^0x[0-9a-fA-F]{1,16}$/.test(t) ? BigInt(t) : null;
}

/**
 * The kernel log through /dev/kmsg (non-blocking, so the read ends at the last record): each record
 * is "prio,seq,usec,flags;message" plus " KEY=value" continuation lines. Returns the messages, or the
 * errno when the log cannot be read (EPERM with dmesg_restrict and no CAP_SYSLOG).
 */
export function readKernelLog(file: string): string[] | string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    return errnoOf(e);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    const buf = Buffer.alloc(16384);
    for (;;) {
      let n: number;
      try {
        n = fs.readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "EPIPE") continue; // records overwritten while reading: kmsg moves on
        if (code === "EAGAIN") break; // no more records
        return errnoOf(e);
      }
      if (n === 0) break;
      chunks.push(Buffer.from(buf.subarray(0, n)));
      total += n;
      if (total > MAX_LOG_BYTES) break;
    }
  } finally {
    fs.closeSync(fd);
  }
  return Buffer.concat(chunks)
    .toString("utf8")
    .split("\n")
    .filter((l) => !l.startsWith(" "))
    .map((l) => {
      const semi = l.indexOf(";");
      return semi >= 0 && /^\d+,\d+,\d+/.test(l) ? l.slice(semi + 1) : "";
    })
    .filter((m) => m.length > 0);
}

/** The facts of the Linux host whose root file system is at `root` ("/" normally; tests pass a tree). */
export function readLinuxHostFacts(root = "/"): HostFacts {
  const vulnerabilities: Record<string, string> = {};
  const dir = path.join(root, VULNERABILITIES);
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).sort();
  } catch {
    // an older kernel or no sysfs: no vulnerability files
  }
  for (const name of names.filter((n) => /^[a-z0-9_]{1,64}$/.test(n)).slice(0, 64)) {
    const state = readTrimmed(path.join(dir, name));
    if (state !== undefined) vulnerabilities[name] = printable(state).slice(0, 512);
  }
  const log = readKernelLog(path.join(root, KMSG));
  return {
    vulnerabilities,
    midr: readHexRegister(path.join(root, IDENTIFICATION, "midr_el1")),
    revidr: readHexRegister(path.join(root, IDENTIFICATION, "revidr_el1")),
    dmesg:
      typeof log === "string"
        ? log
        : log
            .filter((m) => INTERESTING.test(m))
            .map((m) => printable(m).slice(0, 1024))
            .slice(0, 4096),
  };
}
