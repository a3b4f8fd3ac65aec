import assert from "node:assert/strict";
import { test } from "node:test";
import { CORE_PC, coreXReg } from "../uapi.js";
import { descsOf } from "../kernels/descs.js";
import { generationModel } from "../kernels/generations.js";
import { RegState, stateSlots } from "./reg-state.js";

const descs = descsOf(generationModel("7.2"));
const V0 = 0x6040000000100054n; // struct kvm_regs fp_regs.vregs[0], U128
const SCTLR_EL1 = 0x603000000013c080n;
const SVE_Z0 = 0x6080000000150000n; // not a core or descriptor id: kept beside the slots

test("a slot for every core register and descriptor encoding, one table per descriptor table", () => {
  const slots = stateSlots(descs);
  assert.equal(stateSlots(descs), slots);
  assert.equal(slots.get(coreXReg(0)), 0);
  for (const id of [CORE_PC, V0, SCTLR_EL1]) assert.notEqual(slots.get(id), undefined);
  assert.equal(slots.get(SVE_Z0), undefined);
  assert.equal(new Set(slots.values()).size, slots.size);
});

test("get/set/clear behave as a Map's, for ids with and without a slot", () => {
  const st = new RegState(stateSlots(descs));
  assert.equal(st.get(SCTLR_EL1), undefined);
  assert.equal(st.get(SVE_Z0), undefined);
  const z = new Uint8Array(256).fill(7);
  st.set(SCTLR_EL1, 0xc50838n).set(SVE_Z0, z);
  assert.equal(st.get(SCTLR_EL1), 0xc50838n);
  assert.equal(st.getAt(stateSlots(descs).get(SCTLR_EL1)!), 0xc50838n);
  assert.equal(st.get(SVE_Z0), z);
  st.setAt(stateSlots(descs).get(CORE_PC)!, 0x80000n);
  assert.equal(st.get(CORE_PC), 0x80000n);
  st.clear();
  for (const id of [SCTLR_EL1, SVE_Z0, CORE_PC]) assert.equal(st.get(id), undefined);
});

test("setZeroBytes: zero bytes, one array per register and vCPU, made on the first get", () => {
  const a = new RegState(stateSlots(descs));
  const b = new RegState(stateSlots(descs));
  a.setZeroBytes(V0, 16);
  b.setZeroBytes(V0, 16);
  const v = a.get(V0) as Uint8Array;
  assert.deepEqual(v, new Uint8Array(16));
  assert.equal(a.get(V0), v); // the same array on every read, as a Map keeps it
  assert.notEqual(b.get(V0), v);
  a.setZeroBytes(SVE_Z0, 256); // outside the slot table
  assert.deepEqual(a.get(SVE_Z0), new Uint8Array(256));
});
