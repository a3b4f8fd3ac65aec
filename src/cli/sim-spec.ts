/** `--sim KERNEL[/CPU]`: which simulated host a command runs on. */
import type { SimSystem } from "../kvm/sim/index.js";
import { CPU_MODELS, SIM_GENERATIONS, openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { UsageError } from "./output.js";

/** A widely deployed server core, and one the lab measures. */
export const DEFAULT_SIM_CPU = "neoverse-n1";

export interface SimSpec {
  generation: SimGeneration;
  cpu: string;
}

export function parseSimSpec(spec: string): SimSpec {
  const [generation, cpu = DEFAULT_SIM_CPU, extra] = spec.split("/");
  if (extra !== undefined || !generation)
    throw new UsageError(`bad --sim '${spec}' (KERNEL[/CPU], like 6.1/cortex-a72)`);
  if (!(SIM_GENERATIONS as readonly string[]).includes(generation))
    throw new UsageError(`unknown kernel '${generation}' in --sim (known: ${SIM_GENERATIONS.join(", ")})`);
  if (!(cpu in CPU_MODELS))
    throw new UsageError(
      `unknown CPU model '${cpu}' in --sim (known: ${Object.keys(CPU_MODELS).join(", ")})`,
    );
  return { generation: generation as SimGeneration, cpu };
}

export function openSimSpec(spec: string): SimSystem {
  return openSimKvm(parseSimSpec(spec));
}
