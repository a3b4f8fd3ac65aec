/**
 * Firecracker's nine public aarch64 host fingerprints (src/vmm/testdata/firecracker/README.md), for
 * tests: each file's path, the CPU and the kernel line it was taken on.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";

/** src/vmm/testdata/firecracker/ (tests run from dist/vmm/testing/). */
export const FIRECRACKER_TESTDATA = fileURLToPath(
  new URL("../../../src/vmm/testdata/firecracker/", import.meta.url),
);

export const FINGERPRINT_CPUS = ["N1", "V1", "V2"] as const;
export const FINGERPRINT_KERNELS = ["5.10", "6.1", "6.18"] as const;

export interface FingerprintFixture {
  /** "fingerprint_ARM_NEOVERSE_N1_6.1host.json" */
  file: string;
  path: string;
  cpu: (typeof FINGERPRINT_CPUS)[number];
  kernel: (typeof FINGERPRINT_KERNELS)[number];
  text: string;
}

export const FINGERPRINT_FIXTURES: readonly FingerprintFixture[] = FINGERPRINT_CPUS.flatMap((cpu) =>
  FINGERPRINT_KERNELS.map((kernel) => {
    const file = `fingerprint_ARM_NEOVERSE_${cpu}_${kernel}host.json`;
    const path = FIRECRACKER_TESTDATA + file;
    return { file, path, cpu, kernel, text: fs.readFileSync(path, "utf8") };
  }),
);
