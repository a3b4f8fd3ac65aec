/**
 * The one place commands open and close backends: this host's /dev/kvm, or the simulator of
 * `--sim KERNEL[/CPU]` (options.ts's parseSimSpec). Every backend opened here is closed on every path,
 * however the command ends.
 */
import type { HostFacts } from "../formats/profile.js";
import type { SimHost } from "../fleet/sim-ops.js";
import { openLinuxKvm } from "../kvm/index.js";
import type { KvmSystem } from "../kvm/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import { readLinuxHostFacts } from "../probe/host-facts.js";
import { parseSimSpec } from "./options.js";
import type { SimSpec } from "./options.js";
import { withSimFaults } from "./sim-faults.js";

/** An open backend and what its host says about itself (null when it is not a real host). */
export interface Backend {
  system: KvmSystem;
  hostFacts: HostFacts | null;
}

/** Opens the backend of `--sim SPEC` (a test may put a double behind it). */
export type OpenSim = (spec: string) => Promise<Backend>;

/** The simulator behind `--sim`. */
export const openSimBackend: OpenSim = async (spec) => ({
  system: withSimFaults(openSimKvm(parseSimSpec(spec))),
  hostFacts: null,
});

/** This host's KVM; without it (wrong OS/arch, no /dev/kvm, no permission) a KvmUnavailableError. */
async function openLinux(): Promise<Backend> {
  const system = await openLinuxKvm();
  return { system, hostFacts: readLinuxHostFacts() };
}

/** Runs `fn` on this host's KVM (`sim` undefined) or on `openSim(sim)`, closing the backend after. */
export async function withBackend<T>(
  sim: string | undefined,
  openSim: OpenSim | undefined,
  fn: (b: Backend) => T | Promise<T>,
): Promise<T> {
  const backend = sim === undefined ? await openLinux() : await openSim!(sim);
  try {
    return await fn(backend);
  } finally {
    backend.system.close();
  }
}

/** Runs `fn` on a simulator of each spec, closing every one opened after (and if a later one fails to open). */
export function withSims<T>(specs: SimSpec[], fn: (hosts: SimHost[]) => T): T {
  const hosts: SimHost[] = [];
  try {
    for (const s of specs) hosts.push({ system: withSimFaults(openSimKvm(s)), ...s });
    return fn(hosts);
  } finally {
    for (const h of hosts) h.system.close();
  }
}

/** Runs `fn` on a simulator of `spec`, closing it after. */
export function withSim<T>(spec: SimSpec, fn: (host: SimHost) => T): T {
  return withSims([spec], ([host]) => fn(host!));
}
