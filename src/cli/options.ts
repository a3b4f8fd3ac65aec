/** Option parsers the commands share: each turns the text into a typed value or throws UsageError. */
import { Option } from "commander";
import type { Command } from "commander";
import { VCPU_FEATURES, vcpuFeatures } from "../kvm/index.js";
import type { VcpuFeatureName } from "../kvm/index.js";
import { SIM_GENERATIONS } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { IMPACT_MODES } from "../fleet/analysis.js";
import type { ImpactMode } from "../fleet/analysis.js";
import { CpuLabel } from "../formats/schema-parts.js";
import { VCPU_CONFIGS, configByName } from "../probe/session.js";
import type { RestorePolicy } from "../check/restore-policy.js";
import { UnknownVmmError, VMM_NAMES, vmmPolicy } from "../vmm/policies.js";
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

export function featuresOption(text: string): number[] {
  const names = list(text);
  for (const n of names)
    if (!Object.hasOwn(VCPU_FEATURES, n))
      throw new UsageError(`unknown vCPU feature '${n}' (known: ${Object.keys(VCPU_FEATURES).join(", ")})`);
  return vcpuFeatures(...(names as VcpuFeatureName[]));
}

/** --features and --vcpus of a VM started with the host's defaults. */
export function vmOptions(cmd: Command): Command {
  return cmd
    .addOption(
      // The default shown as a name the option takes, not as the number it parses to.
      new Option("--features <list>", "vCPU features of an unpinned VM")
        .argParser(featuresOption)
        .default([VCPU_FEATURES.PSCI_0_2], "PSCI_0_2"),
    )
    .option("--vcpus <n>", "vCPUs", vcpusOption, 1);
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
  if (!CpuLabel.safeParse(text).success)
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

/** --vmm NAME: the VMM whose restore rules the verdicts follow (vmm/policies.ts). */
export function vmmOption(text: string): RestorePolicy {
  try {
    return vmmPolicy(text);
  } catch (e) {
    if (e instanceof UnknownVmmError) throw new UsageError(e.message);
    throw e;
  }
}

/** Adds --vmm to a command; without it the command uses `defaultText`'s VMM. */
export function withVmmOption(cmd: Command, defaultText = "guestabi"): Command {
  return cmd.addOption(
    new Option(
      "--vmm <name>",
      `the VMM that restores: ${VMM_NAMES.join(", ")} (default: ${defaultText})`,
    ).argParser(vmmOption),
  );
}
