/**
 * Option parsers the commands share: each turns the text into a typed value or throws UsageError.
 * Commander runs them while it parses, before a command's code is loaded (the registrations reach them
 * through run-command.ts's optionParsers, which loads this module only for a command with a parsed
 * option); the options themselves, with their help, are registered by shared-options.ts and the
 * *-commands.ts modules.
 */
import { isIP } from "node:net";
import { VCPU_FEATURES } from "../kvm/uapi.js";
import type { VcpuFeatureName } from "../kvm/uapi.js";
import { SIM_GENERATIONS } from "../kvm/kernels/model.js";
import type { SimGeneration } from "../kvm/kernels/model.js";
import { CPU_MODELS } from "../kvm/sim/cpus.js";
import { IMPACT_MODES } from "../fleet/impact-modes.js";
import type { ImpactMode } from "../fleet/impact-modes.js";
import { CPU_LABEL_PATTERN } from "../formats/cpu-label.js";
import { VCPU_CONFIGS, configByName } from "../probe/vcpu-configs.js";
import { VMM_NAMES, unknownVmmMessage } from "../vmm/vmm-names.js";
import { UsageError } from "./run-command.js";

/** A comma-separated list, blanks dropped. */
function list(text: string): string[] {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function oneOf<T extends string>(text: string, known: readonly T[], message: string): T {
  if (!(known as readonly string[]).includes(text)) throw new UsageError(message);
  return text as T;
}

export function vcpusOption(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < 1 || n > 512)
    throw new UsageError(`bad --vcpus '${text}' (1..512)`);
  return n;
}

/** vCPU feature names (kvm/uapi.ts's VCPU_FEATURES), like PSCI_0_2,PMU_V3; kvm's vcpuFeatures makes them bits. */
export function featuresOption(text: string): VcpuFeatureName[] {
  const names = list(text);
  for (const n of names)
    if (!Object.hasOwn(VCPU_FEATURES, n))
      throw new UsageError(`unknown vCPU feature '${n}' (known: ${Object.keys(VCPU_FEATURES).join(", ")})`);
  return names as VcpuFeatureName[];
}

/** What `uname -r` prints: letters, digits and . _ + ~ -. */
const RELEASE = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/;

/** --release: what `uname -r` prints (letters, digits and . _ + ~ -), like 6.1.0-31-arm64. */
export function releaseOption(text: string): string {
  if (!RELEASE.test(text))
    throw new UsageError(`bad --release '${text}' (what 'uname -r' prints, like 6.1.0-31-arm64)`);
  return text;
}

/**
 * --to of impact and rollout: a simulator kernel (SIM_GENERATIONS), a kernel generation, or a release
 * ('uname -r') some host profile of the fleet has; which profiles run it the analysis decides.
 */
export function kernelOption(text: string): string {
  if (!RELEASE.test(text))
    throw new UsageError(
      `bad kernel '${text}' (a simulator kernel: ${SIM_GENERATIONS.join(", ")}; or a release, like 6.1.0-31-arm64)`,
    );
  return text;
}

/** --kernel of a simulated host: a simulator kernel (SIM_GENERATIONS). */
export function simKernelOption(text: string): SimGeneration {
  return oneOf(text, SIM_GENERATIONS, `unknown kernel '${text}' (known: ${SIM_GENERATIONS.join(", ")})`);
}

export function modeOption(text: string): ImpactMode {
  return oneOf(text, IMPACT_MODES, `bad --mode '${text}' (${IMPACT_MODES.join(", ")})`);
}

export function cpuLabelOption(text: string): string {
  if (!CPU_LABEL_PATTERN.test(text))
    throw new UsageError(`bad --cpu-label '${text}' (letters, digits, '.', '_', '+', '-'; like cortex-a72)`);
  return text;
}

export function configsOption(text: string): string[] {
  const names = list(text);
  if (names.length === 0) throw new UsageError("--configs needs at least one configuration name");
  for (const n of names)
    if (!configByName(n))
      throw new UsageError(
        `unknown configuration '${n}' (known: ${VCPU_CONFIGS.map((c) => c.name).join(", ")})`,
      );
  return names;
}

/**
 * --vmm NAME: a VMM whose restore rules the verdicts follow; shared-options.ts's withVmmOption puts its
 * policy (vmm/policies.ts) in the option's place before the command runs.
 */
export function vmmOption(text: string): string {
  if (!VMM_NAMES.includes(text)) throw new UsageError(unknownVmmMessage(text));
  return text;
}

/** A CPU model of the simulator (kvm/sim/cpus.ts); `what` names it in the error. */
function simCpu(cpu: string, what: string): string {
  // An own property: `toString`, `constructor` or `__proto__` are in every object, not CPU models.
  if (!Object.hasOwn(CPU_MODELS, cpu))
    throw new UsageError(`unknown CPU model '${cpu}'${what} (known: ${Object.keys(CPU_MODELS).join(", ")})`);
  return cpu;
}

/** --cpu of a simulated host: a CPU model of the simulator. */
export const simCpuOption = (text: string): string => simCpu(text, "");

/** A widely deployed server core, and one the lab measures. */
export const DEFAULT_SIM_CPU = "neoverse-n1";

/** A simulated host named on the command line. */
export interface SimSpec {
  generation: SimGeneration;
  cpu: string;
}

/**
 * Parses `KERNEL[/CPU]` (like 6.1/cortex-a72; the CPU defaults to DEFAULT_SIM_CPU); UsageError for an
 * unknown kernel or CPU model.
 */
export function parseSimSpec(spec: string): SimSpec {
  const [generation, cpu = DEFAULT_SIM_CPU, extra] = spec.split("/");
  if (extra !== undefined || !generation)
    throw new UsageError(`bad --sim '${spec}' (KERNEL[/CPU], like 6.1/cortex-a72)`);
  if (!(SIM_GENERATIONS as readonly string[]).includes(generation))
    throw new UsageError(`unknown kernel '${generation}' in --sim (known: ${SIM_GENERATIONS.join(", ")})`);
  return { generation: generation as SimGeneration, cpu: simCpu(cpu, " in --sim") };
}

export const simText = (s: SimSpec): string => `${s.generation}/${s.cpu}`;

/** What `impact`, `plan` and `rollout` exit 1 on (--fail-on). */
export type FleetFailOn = "break" | "guest-change";
const FLEET_FAIL_ON: readonly FleetFailOn[] = ["break", "guest-change"];

/** --fail-on of the fleet commands. */
export function fleetFailOnOption(text: string): FleetFailOn {
  return oneOf(text, FLEET_FAIL_ON, `bad --fail-on '${text}' (${FLEET_FAIL_ON.join(", ")})`);
}

/** --waves of rollout: 1..1000. */
export function wavesOption(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 1000) throw new UsageError(`bad --waves '${text}' (1..1000)`);
  return n;
}

/** --port of serve: 0..65535 (0: a free port). */
export function portOption(text: string): number {
  const n = Number(text);
  if (!/^\d{1,5}$/.test(text) || n > 65535)
    throw new UsageError(`bad --port '${text}' (0..65535; 0: a free port)`);
  return n;
}

/** --host of serve: an IP address, or localhost. */
export function hostOption(text: string): string {
  if (text !== "localhost" && isIP(text) === 0)
    throw new UsageError(`bad --host '${text}' (an IP address such as 127.0.0.1 or ::1, or localhost)`);
  return text;
}
