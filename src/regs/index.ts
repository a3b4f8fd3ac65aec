export * from "./id.js";
export * from "./core-regs.js";
export * from "./catalog.js";
export * from "./names.js";
export * from "./fields.js";
export * from "./describe.js";
export * from "./catalog-ids.js";
