export * from "./a64.js";
export * from "./smccc.js";
export * from "./program.js";
export * from "./decode.js";
export * from "./run.js";
export * from "./gic.js";
