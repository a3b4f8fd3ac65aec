/** TEST HELPER: small, valid host profiles made by probing the test double (fake-kvm.ts). */
import { probe } from "../probe.js";
import type { HostProfile } from "../../formats/profile.js";
import { FAKE, FakeKvm } from "./fake-kvm.js";
import type { FakeOptions } from "./fake-kvm.js";

export function fakeProfile(opts: FakeOptions = {}, configs: string[] = ["psci-0.2"]): HostProfile {
  const fake = new FakeKvm({ lowerable: [FAKE.PFR0], ...opts });
  return probe(fake, {
    configs,
    cpuLabel: "fake-cpu",
    toolVersion: "test",
    now: () => new Date("2030-01-02T03:04:05.000Z"),
    clock: () => 0,
    hostFacts: {
      vulnerabilities: { spectre_v2: "Mitigation: CSV2, BHB" },
      midr: 0x410fd083n,
      revidr: 0n,
      dmesg: ["kvm [1]: Hyp mode initialized successfully", "psci: PSCIv1.1 detected in firmware."],
    },
  });
}
