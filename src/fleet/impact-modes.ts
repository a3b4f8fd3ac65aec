/**
 * How impact treats the VMs of the group rolled back (analysis.ts), apart from the analysis so that
 * the command line checks `--mode` without loading it.
 */
export type ImpactMode = "as-described" | "host-defaults" | "pinned";
export const IMPACT_MODES: readonly ImpactMode[] = ["as-described", "host-defaults", "pinned"];
