/** ID register writes: sys_regs.c set_id_reg and its set_user functions, set_clidr, set_ccsidr. */
import type { SysregDesc } from "../kernels/descs.js";
import { CLIDR_RES0, setCcsidrAccepts, setClidrAccepts } from "../rules/cache.js";
import { checkFeatures } from "../rules/id-fields.js";
import { pfr0CsvAccepted, pfr0CsvFields, setImpIdAccepts } from "../rules/id-regs.js";
import { fail } from "./common.js";
import { getField, hasField, setField } from "./descs.js";
import { hostSanitised, policiesOf } from "./idregs.js";
import { CSSELR_MAX, ccsidr, hostCcsidrU32, minLineSize } from "./reset.js";
import { spectreState } from "./spectre.js";
import type { SimVcpu } from "./vcpu.js";

const lo32 = (v: bigint): number => Number(v & 0xffffffffn);
const hi32 = (v: bigint): number => Number((v >> 32n) & 0xffffffffn);

/** The set_user functions in front of set_id_reg (6.7+), by descriptor. */
function idPrefilter(vcpu: SimVcpu, op: string, d: SysregDesc, v: bigint): bigint {
  const m = vcpu.vm.model;
  const cpu = vcpu.vm.cpu;
  const name = d.name;
  const f = (field: string) => getField(v, name, field);
  const hw = () => hostSanitised(m, cpu, name);
  switch (d.setUser) {
    case "set_id_aa64pfr0_el1": {
      // MPAM: the host's value is accepted and ignored
      if (hasField(name, "MPAM") && getField(hw(), name, "MPAM") === f("MPAM"))
        v = setField(v, name, "MPAM", 0);
      if (m.pfr0KeepsAArch64 && (!getField(v, name, "EL0") || !getField(v, name, "EL1"))) fail(op, "EINVAL");
      return v;
    }
    case "set_id_aa64pfr1_el1": {
      if (getField(hw(), name, "MPAM_frac") === f("MPAM_frac")) v = setField(v, name, "MPAM_frac", 0);
      // 7.x: MTE_frac ASYNC (0) from userspace stands for the host's NI (0xf) when MTE is MTE2
      if (
        m.mteFracAsyncIsNi &&
        getField(hw(), name, "MTE") === 2 &&
        getField(hw(), name, "MTE_frac") === 0xf &&
        f("MTE_frac") === 0
      )
        v = setField(v, name, "MTE_frac", 0xf);
      return v;
    }
    case "set_id_aa64mmfr2_el1":
      // 7.x: the deprecated NV field is accepted at the host's value and ignored
      return getField(hw(), name, "NV") === f("NV") ? setField(v, name, "NV", 0) : v;
    case "set_ctr_el0":
      if (f("L1Ip") < 2) fail(op, "EINVAL"); // VPIPT and AIVIVT are reserved
      return v;
    case "set_id_aa64dfr0_el1":
      if (f("PMUVer") === 0xf) v = setField(v, name, "PMUVer", 0); // IMP_DEF becomes NI
      if (f("DebugVer") < 6) fail(op, "EINVAL"); // DebugVer_IMP is the minimum
      return v; // 7.x ignore_feat_doublelock not modelled
    case "set_id_dfr0_el1": {
      let perfmon = f("PerfMon");
      if (perfmon === 0xf) {
        v = setField(v, name, "PerfMon", 0);
        perfmon = 0;
      }
      if (perfmon !== 0 && perfmon < 3) fail(op, "EINVAL"); // PMUv3 or nothing
      if (f("CopDbg") < 6) fail(op, "EINVAL"); // CopDbg_Armv8
      return v;
    }
    default:
      return v;
  }
}

export function setId(vcpu: SimVcpu, op: string, d: SysregDesc, v: bigint): void {
  const vm = vcpu.vm;
  const m = vm.model;
  const name = d.name;
  if (name === "CLIDR_EL1" && !d.invariant) {
    // set_clidr (6.3+): per vCPU, no EBUSY after the first run
    const idc = ((hostSanitised(m, vm.cpu, "CTR_EL0") >> 28n) & 1n) === 1n;
    if (!setClidrAccepts(lo32(v), hi32(v), lo32(~CLIDR_RES0), hi32(~CLIDR_RES0), idc)) fail(op, "EINVAL");
    vcpu.vcpuIdRegs.set(name, v);
    return;
  }
  const cur = vcpu.idValue(d);
  if (m.idRegs === "immutable") {
    const csv = pfr0CsvFields(m);
    if (name === "ID_AA64PFR0_EL1" && csv.length) {
      // set_id_aa64pfr0_el1 (5.10, 6.1): CSV2 (and CSV3) may be lowered, or raised to 1 when unaffected
      for (const f of csv) {
        const st = spectreState(m.data, vm.cpu); // arm64_get_spectre_v2_state / arm64_get_meltdown_state
        const unaffected = f === "CSV2" ? st.v2 === "UNAFFECTED" : st.meltdown === "UNAFFECTED";
        if (!pfr0CsvAccepted(getField(v, name, f), unaffected ? 1 : 0)) fail(op, "EINVAL");
      }
      let masked = v;
      let base = cur;
      for (const f of csv) {
        masked = setField(masked, name, f, 0);
        base = setField(base, name, f, 0);
      }
      if (masked !== base) fail(op, "EINVAL");
      for (const f of csv) vm.pfr0Csv.set(f, getField(v, name, f));
      return;
    }
    if (v !== cur) fail(op, "EINVAL"); // __set_id_reg / set_invariant_sys_reg: "you can't change it"
    return;
  }
  if (d.outer === "IMPLEMENTATION_ID") {
    // set_imp_id_reg (6.15+)
    if (v === cur) return;
    if (!vm.writableImpId) fail(op, "EINVAL");
    if (vm.ranOnce) fail(op, "EBUSY");
    if (!setImpIdAccepts(lo32(v), hi32(v), lo32(d.valBig), hi32(d.valBig))) fail(op, "EINVAL");
    vm.idRegs.set(name, v);
    return;
  }
  if (d.invariant) {
    if (v !== cur) fail(op, "EINVAL"); // set_invariant_sys_reg (before 6.15)
    return;
  }
  v = idPrefilter(vcpu, op, d, v);
  // set_id_reg (6.7+)
  if (vm.ranOnce) {
    if (v !== cur) fail(op, "EBUSY");
    return;
  }
  const r = checkFeatures(policiesOf(m, name), v, vcpu.idReset(d), d.valBig, vcpu.visibleAsRaz(d));
  if (r !== "ok") fail(op, "EINVAL"); // E2BIG is reported as EINVAL
  if (vm.idRegs.get(name) === v) return; // the VM's value already: nothing a list depends on changes
  vm.idRegs.set(name, v);
  vm.listEpoch++; // visibility functions read ID fields
}

/** demux_c15_set (before 6.3) / set_ccsidr (6.3+): KVM_SET_ONE_REG of a demux CCSIDR. */
export function setCcsidr(vcpu: SimVcpu, op: string, sel: number, v: bigint): void {
  const vm = vcpu.vm;
  if (vm.model.cacheIds === "host") {
    // demux_c15_set (before 6.3): the CCSIDR is invariant, only get_ccsidr's u32 (the hardware's low
    // 32 bits) is accepted
    if (v !== hostCcsidrU32(vcpu, sel)) fail(op, "EINVAL");
    return;
  }
  // set_ccsidr (6.3+): RES0 bits (63:32, none in a u32) or a line size below the CTR_EL0 minimum are
  // EINVAL; the first value that differs from get_ccsidr's allocates vcpu->arch.ccsidr
  if (!setCcsidrAccepts(lo32(v), hi32(v), minLineSize(vcpu, sel))) fail(op, "EINVAL");
  if (!vcpu.ccsidrs) {
    if (v === ccsidr(vcpu, sel)) return;
    vcpu.ccsidrs = Array.from({ length: CSSELR_MAX }, (_, i) => ccsidr(vcpu, i));
  }
  vcpu.ccsidrs[sel] = v;
}
