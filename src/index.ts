/** guestabi's library entry point. */
export * from "./regs/index.js";
