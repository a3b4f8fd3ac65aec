/** vCPU reset values: reset.c kvm_reset_vcpu, sys_regs.c kvm_reset_sys_regs, reset_*, read_id_reg. */
import { CORE_REGS } from "../../regs/core-regs.js";
import { COPROC, makeId } from "../../regs/id.js";
import { CORE_PSTATE, VCPU_FEATURES } from "../uapi.js";
import { regSizeBytes } from "../values.js";
import { ccsidrMinLine } from "../rules/cache.js";
import { PTIMER_CNT, TIMER_CNT } from "./common.js";
import { descByName, descsOf } from "../kernels/descs.js";
import { getField, setField } from "./descs.js";
import type { SysregDesc } from "../kernels/descs.js";
import { cpuHas32bitEl0, hostSanitised, kvmIdValue } from "./idregs.js";
import type { SimVcpu } from "./vcpu.js";
import { descSlots } from "./reg-state.js";
import { isIdDesc, isVmFtrIdReg, nonIdDescs } from "./visibility.js";

const RESET_UNKNOWN = 0x1de7ec7edbadc0den; // sys_regs.h reset_unknown

/** struct kvm_regs as ONE_REG ids, and their sizes (every vCPU reset stores each). */
const CORE_IDS = CORE_REGS.map((c) => {
  const id = makeId(c.size, COPROC.core, c.offset);
  return { id, bytes: regSizeBytes(id) };
});

/** The guest-visible ID value KVM would give now (per VM on 6.7+, per vCPU before). */
export function idValue(vcpu: SimVcpu, d: SysregDesc): bigint {
  const vm = vcpu.vm;
  if (vm.model.idRegs === "writable") {
    const v = isVmFtrIdReg(d) ? vm.idRegs.get(d.name) : vcpu.vcpuIdRegs.get(d.name);
    if (v !== undefined) return v;
  }
  return vcpu.idReset(d);
}

/** KVM's reset value of an ID-class register (the limit of arm64_check_features). */
export function idReset(vcpu: SimVcpu, d: SysregDesc): bigint {
  const vm = vcpu.vm;
  const cpu = vm.cpu;
  const name = d.name;
  // <= 6.1 read_id_reg returns 0 for a register visible as RAZ; 6.7+ __kvm_read_sanitised_id_reg (the reset
  // of most ID registers) does, while the registers with their own reset function (read_sanitised_id_dfr0_el1,
  // read_sanitised_id_aa64pfr0_el1, ...) keep their value and read_id_reg returns the VM's value as it is.
  const razChecked = vm.model.idRegs === "immutable" || !d.reset || d.reset === "kvm_read_sanitised_id_reg";
  if (razChecked && vcpu.visibleAsRaz(d)) return 0n;
  if (name === "MIDR_EL1") return cpu.midr;
  if (name === "REVIDR_EL1") return cpu.revidr;
  if (name === "AIDR_EL1") return cpu.aidr;
  if (name === "CLIDR_EL1") return d.reset === "reset_clidr" ? resetClidr(vcpu) : cpu.cache.clidr;
  let v = kvmIdValue(vm.model, cpu, name, vcpu.fset);
  if (name === "ID_AA64PFR0_EL1" && vm.model.pfr0CsvWritable.length)
    for (const [f, x] of vm.pfr0Csv) v = setField(v, name, f, x);
  return v;
}

/**
 * reset_clidr (6.3+): a CLIDR_EL1 fabricated from the sanitised CTR_EL0. IDC: no clean to the PoU needed, so
 * one unified cache at LoC = 1 (DIC) or 2 (no DIC, leaving L1 for an instruction cache); no IDC: an L1 data
 * cache that is LoUU, LoUIS and LoC. No DIC: an L1 instruction cache as well. MTE: a unified tag cache at LoC.
 */
function resetClidr(vcpu: SimVcpu): bigint {
  const ctr = hostSanitised(vcpu.vm.model, vcpu.vm.cpu, "CTR_EL0");
  const idc = ((ctr >> 28n) & 1n) === 1n;
  const dic = ((ctr >> 29n) & 1n) === 1n;
  const ctype = (level: bigint) => 3n * (level - 1n); // CLIDR_CTYPE_SHIFT
  const CACHE_TYPE_INST = 1n;
  const CACHE_TYPE_DATA = 2n;
  const CACHE_TYPE_UNIFIED = 4n;
  let loc: bigint;
  let clidr: bigint;
  if (idc) {
    loc = dic ? 1n : 2n;
    clidr = CACHE_TYPE_UNIFIED << ctype(loc);
  } else {
    loc = 1n;
    clidr = (1n << 27n) | (1n << 21n) | (CACHE_TYPE_DATA << ctype(1n)); // LoUU, LoUIS
  }
  if (!dic) clidr |= CACHE_TYPE_INST << ctype(1n);
  clidr |= loc << 24n;
  if (vcpu.vm.mte) clidr |= 2n << (33n + 2n * (loc - 1n)); // CLIDR_TTYPE_SHIFT(loc)
  return clidr;
}

/** CSSELR_MAX (6.3+): the demux CCSIDR ids KVM lists and accepts. */
export const CSSELR_MAX = 14;

/**
 * get_ccsidr (6.3+): vcpu->arch.ccsidr once userspace set one, else a fabricated CCSIDR_EL1 of one set and one
 * way with the minimum line size of CTR_EL0 (get_min_cache_line_size: IminLine / DminLine + 2 = log2 bytes).
 */
export function ccsidr(vcpu: SimVcpu, sel: number): bigint {
  if (vcpu.ccsidrs) return vcpu.ccsidrs[sel] ?? 0n;
  const lineSize = minLineSize(vcpu, sel) - 4; // CCSIDR_EL1.LineSize = log2(bytes) - 4
  return LINE_SIZES[lineSize] ?? BigInt(lineSize);
}

/**
 * The line sizes a CTR_EL0 minimum gives (0..15), made once: a save keeps every value it reads, and a new
 * bigint for each of 14 CCSIDRs per vCPU is that much more for the garbage collector to move.
 */
const LINE_SIZES: readonly bigint[] = Array.from({ length: 16 }, (_, n) => BigInt(n));

/**
 * The demux CCSIDR before 6.3 (demux_c15_get / demux_c15_set): get_ccsidr returns a u32, so a CPU with the
 * 64-bit CCSIDR_EL1 format (FEAT_CCIDX: NumSets in bits 55:32) reads, and accepts, only its low 32 bits.
 */
export function hostCcsidrU32(vcpu: SimVcpu, sel: number): bigint {
  return (vcpu.vm.cpu.cache.ccsidr[sel] ?? 0n) & 0xffffffffn;
}

/** CSSELR_EL1's Level and InD (the selector access_ccsidr uses). */
export function csselr(vcpu: SimVcpu): number {
  const d = descByName(vcpu.vm.model, "CSSELR_EL1");
  return d ? Number(((vcpu.state.get(d.id) as bigint | undefined) ?? 0n) & 0xfn) : 0;
}

/**
 * The guest's CCSIDR_EL1 for a CSSELR selector (access_ccsidr): before 6.3 get_ccsidr reads the hardware's
 * (the CPU model's geometry, 0 for a cache it lacks); 6.3+ get_ccsidr for a selector below CSSELR_MAX.
 */
export function ccsidrFor(vcpu: SimVcpu, sel: number): bigint {
  if (vcpu.vm.model.cacheIds === "host") return vcpu.vm.cpu.cache.ccsidr[sel] ?? 0n;
  return sel < CSSELR_MAX ? ccsidr(vcpu, sel) : 0n;
}

export function minLineSize(vcpu: SimVcpu, sel: number): number {
  const ctr = hostSanitised(vcpu.vm.model, vcpu.vm.cpu, "CTR_EL0");
  return ccsidrMinLine(sel, Number(ctr & 0xfn), Number((ctr >> 16n) & 0xfn)); // IminLine, DminLine
}

/** The first value of a VM-wide ID register: KVM's reset value, with proposal (c)'s new fields at 0. */
function idInitial(vcpu: SimVcpu, d: SysregDesc): bigint {
  let v = vcpu.idReset(d);
  if (vcpu.vm.enabled.vmRegs)
    for (const f of vcpu.vm.model.newHere.idFields) if (f.reg === d.name) v = setField(v, f.reg, f.field, 0);
  return v;
}

/**
 * kvm_reset_vcpu -> kvm_reset_sys_regs: VM-wide ID registers first, once (KVM_ARCH_FLAG_ID_REGS_INITIALIZED),
 * then every other register's reset function (some read the VM's ID registers: reset_pmevtyper).
 */
export function reset(vcpu: SimVcpu): void {
  const vm = vcpu.vm;
  const st = vcpu.state;
  st.clear();
  if (vm.model.idRegs === "writable") {
    if (!vm.idRegsInitialized) {
      for (const d of descsOf(vm.model))
        if (isIdDesc(d) && isVmFtrIdReg(d)) vm.idRegs.set(d.name, idInitial(vcpu, d));
      vm.idRegsInitialized = true;
      vm.listEpoch++;
    }
    const clidr = descByName(vm.model, "CLIDR_EL1");
    if (clidr && !clidr.invariant) vcpu.vcpuIdRegs.set("CLIDR_EL1", vcpu.idReset(clidr));
  }
  for (const { id, bytes } of CORE_IDS) {
    if (bytes > 8) st.setZeroBytes(id, bytes);
    else st.set(id, 0n);
  }
  // reset.c kvm_reset_vcpu: PSTATE = EL1h with DAIF masked (or SVC32 for EL1_32BIT)
  st.set(CORE_PSTATE, vcpu.features.includes(VCPU_FEATURES.EL1_32BIT) ? 0x1d3n : 0x3c5n);
  const table = descsOf(vm.model);
  const same: SameResets = {};
  for (const { d, slot } of descSlots(table, nonIdDescs(table))) st.setAt(slot, resetValue(vcpu, d, same));
  for (const id of vm.model.timerRegs) if (id !== TIMER_CNT && id !== PTIMER_CNT) st.set(id, 0n);
  vcpu.mmioPending = undefined;
  vcpu.listEpoch = -1;
}

/** The VM's value of an ID register field (kvm_has_feat / kvm_read_vm_id_reg). */
function vmIdField(vcpu: SimVcpu, reg: string, field: string): number {
  const d = descByName(vcpu.vm.model, reg);
  return d ? getField(vcpu.idValue(d), reg, field) : 0;
}

/** The PMU's counter mask: the cycle counter (bit 31) and PMCR_EL0.N event counters. */
function pmuCounterMask(vcpu: SimVcpu): bigint {
  // 6.1: the host's PMCR_EL0.N; 6.7+: kvm->arch.pmcr_n (nr_pmu_counters), the host's until userspace sets it
  const vm = vcpu.vm;
  const n = BigInt(vm.model.pmcrReset === "lc" ? vm.pmuNrCounters : vm.cpu.pmuCounters);
  return (1n << 31n) | ((1n << n) - 1n);
}

/** reset_pmevcntr and reset_pmselr: the same for every register and every vCPU. */
const PMEVCNTR_RESET = RESET_UNKNOWN & 0xffffffffn;
const PMSELR_RESET = RESET_UNKNOWN & 0x1fn; // ARMV8_PMU_COUNTER_MASK / PMSELR_EL0_SEL_MASK

/**
 * The reset values one vCPU reset gives every register of a reset function (the 6 PMU registers, the
 * 31 PMEVTYPERs), computed once per reset: a VM of 512 vCPUs keeps every value its resets make.
 */
interface SameResets {
  pmuReg?: bigint;
  pmevtyper?: bigint;
}

function resetValue(vcpu: SimVcpu, d: SysregDesc, same: SameResets): bigint {
  const vm = vcpu.vm;
  const cpu = vm.cpu;
  const m = vm.model;
  const hasPmuV3 = cpu.pmuCounters > 0; // kvm_arm_support_pmu_v3()
  switch (d.reset) {
    case "reset_unknown":
      return RESET_UNKNOWN;
    case "reset_mpidr": {
      const i = BigInt(vcpu.id);
      return (1n << 31n) | (i & 0xfn) | (((i >> 4n) & 0xffn) << 8n) | (((i >> 12n) & 0xffn) << 16n);
    }
    case "reset_pmcr": {
      const lc = cpuHas32bitEl0(cpu) ? 0n : 1n << 6n; // ARMV8_PMU_PMCR_LC without 32-bit EL0
      if (m.pmcrReset === "lc") return (BigInt(vm.pmuNrCounters) << 11n) | lc; // + N in kvm_vcpu_read_pmcr
      // 5.10/6.1: "No PMU available, PMCR_EL0 may UNDEF..." (left at 0); else the host's PMCR_EL0 with the
      // writable bits (ARMV8_PMU_PMCR_MASK 0xff) from 0xdecafbad, PMCR.E clear
      if (!hasPmuV3) return 0n;
      return (cpu.pmcr & ~0xffn) | (0xadn & ~1n) | lc;
    }
    case "reset_pmu_reg": // PMCNTEN{SET,CLR}, PMINTEN{SET,CLR}, PMOVS{SET,CLR}: reset_unknown & counter mask
      if (m.pmcrReset === "host" && !hasPmuV3) return 0n;
      return (same.pmuReg ??= RESET_UNKNOWN & pmuCounterMask(vcpu));
    case "reset_pmevcntr":
      return PMEVCNTR_RESET;
    case "reset_pmselr":
      return PMSELR_RESET;
    case "reset_pmevtyper":
      return (same.pmevtyper ??= pmevtyperReset(vcpu));
    default:
      // reset_val, reset_bvr/bcr/wvr/wcr, reset_dbg_wb_reg; reset_actlr/reset_amair copy the host's ACTLR_EL1 and
      // AMAIR_EL1, ARM_CP_CONST 0 on QEMU's CPUs (helper.c: reset_auxcr unset, AMAIR0) and 0 in the lab
      return d.valBig;
  }
}

/** reset_pmevtyper: reset_unknown under the event type mask. */
function pmevtyperReset(vcpu: SimVcpu): bigint {
  const m = vcpu.vm.model;
  if (m.pmevtyperMask === "evtype") return RESET_UNKNOWN & 0xc800ffffn; // ARMV8_PMU_EVTYPE_MASK
  // kvm_pmu_evtyper_mask: EXCLUDE_EL1 | EXCLUDE_EL0 | kvm_pmu_event_mask (PMUVer IMP: 10 bits, later: 16),
  // INCLUDE_EL2 when the VM has EL2, EXCLUDE_NS_EL0/NS_EL1/EL3 when it has EL3; 0 without a vCPU PMU
  if (!vcpu.fset.pmu) return 0n;
  const pmuver = vmIdField(vcpu, "ID_AA64DFR0_EL1", "PMUVer");
  let mask = (3n << 30n) | (pmuver === 1 ? 0x3ffn : pmuver >= 4 && pmuver <= 7 ? 0xffffn : 0n);
  if (vmIdField(vcpu, "ID_AA64PFR0_EL1", "EL2")) mask |= 1n << 27n;
  if (vmIdField(vcpu, "ID_AA64PFR0_EL1", "EL3")) mask |= (1n << 29n) | (1n << 28n) | (1n << 26n);
  return RESET_UNKNOWN & mask;
}
