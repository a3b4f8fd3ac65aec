/**
 * The committed QEMU migration streams (src/vmm/testdata/qemu/README.md says how each was made), for
 * tests and the fuzzer: each file's path, its gzip'd bytes and the raw stream.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { writeQemuStream } from "./qemu-stream-writer.js";

/** src/vmm/testdata/qemu/ (tests run from dist/vmm/testing/). */
export const QEMU_TESTDATA = fileURLToPath(new URL("../../../src/vmm/testdata/qemu/", import.meta.url));

export interface QemuStreamFixture {
  /** "virt-a72-smp2.qemu.gz" */
  file: string;
  path: string;
  gz: Uint8Array;
  raw: Uint8Array;
}

export const QEMU_STREAM_FIXTURES: readonly QemuStreamFixture[] = ["virt-a72-smp2", "virt-max"].map(
  (name) => {
    const file = `${name}.qemu.gz`;
    const path = QEMU_TESTDATA + file;
    const gz = new Uint8Array(fs.readFileSync(path));
    return { file, path, gz, raw: new Uint8Array(gunzipSync(gz)) };
  },
);

/**
 * The fuzzer's seeds: the committed streams, and two small written ones (a few KB, so that mutants
 * reach every record kind quickly): RAM of every page kind over parts, a device with a nested
 * subsection, two vCPUs (one with 10.0's cpu/vfp/fpcr_fpsr), no footers in the second.
 */
export function qemuFuzzSeeds(): Uint8Array[] {
  const cpu = (instanceId: number, tenDotZero: boolean) => ({
    instanceId,
    cpregs: [
      [0x603000000013c000n, 0x410fd083n], // MIDR_EL1
      [0x603000000013c684n, 0xcafe12345678n], // TPIDR_EL1
      [0x6030000000140000n, 0x10001n], // KVM_REG_ARM_PSCI_VERSION
      [0x603000000013dce0n, 0x41023000n], // PMCR_EL0
      [0x6020000000110000n, 0x701fe00an], // CCSIDR[0]
    ] as const,
    xregs: Array.from({ length: 32 }, (_, n) => BigInt(n) * 0x1111n),
    pc: 0x40000000n,
    pstate: 0x3c5,
    vregs: Array.from({ length: 32 }, (_, n) => [BigInt(n), BigInt(n) << 32n] as const),
    fpscr: 0x03000010,
    ...(tenDotZero ? { fpcrFpsr: { fpcr: 0x03000000n, fpsr: 0x10n } } : {}),
  });
  const device = {
    idstr: "pl011",
    instanceId: 0,
    vmsdName: "pl011",
    version: 2,
    fields: [
      { name: "readbuff", type: "uint32", data: Uint8Array.of(0, 0, 0, 7) },
      { name: "read_fifo", type: "uint32", data: new Uint8Array(64), count: 16 },
    ],
    subsections: [
      {
        vmsdName: "pl011/clock",
        version: 1,
        fields: [{ name: "clk", type: "struct", data: new Uint8Array(8) }],
        subsections: [{ vmsdName: "pl011/clock/x", version: 1, fields: [] }],
      },
    ],
  };
  const ram = {
    blocks: [
      { name: "mach-virt.ram", length: 8 * 4096 },
      { name: "/rom@etc/acpi/rsdp", length: 4096 },
    ],
    pages: [
      { block: 0, page: 0, kind: "page" as const },
      { block: 0, page: 1, kind: "zero" as const },
      { block: 1, page: 0, kind: "xbzrle" as const },
      { block: 0, page: 7, kind: "zero" as const },
    ],
    parts: 2,
  };
  return [
    ...QEMU_STREAM_FIXTURES.map((f) => f.raw),
    writeQemuStream({ ram, devices: [device], cpus: [cpu(0, false), cpu(1, true)] }),
    writeQemuStream({ machineType: "virt-10.0", footers: false, ram, cpus: [cpu(0, true)] }),
  ];
}
