// Temporary, until the simulator wiring after sim-split: importers move to ../kernels/.
export * from "../kernels/generations.js";
export * from "../kernels/model.js";
