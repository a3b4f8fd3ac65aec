/**
 * A caller-given CPU label (`--cpu-label cortex-a72`): the one pattern of the documents' schema
 * (schema-parts.ts) and of the option parser, which checks it without loading zod.
 */
export const CPU_LABEL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
