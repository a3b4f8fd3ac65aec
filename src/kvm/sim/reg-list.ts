/** KVM_GET_REG_LIST: guest.c kvm_arm_copy_reg_indices, sys_regs.c walk_one_sys_reg, write_demux_regids. */
import { ccsidrScope } from "../rules/cache.js";
import { CORE_REGS } from "../../regs/core-regs.js";
import { COPROC, makeId, malformedReason } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { KvmError } from "../errors.js";
import { regSizeBytes } from "../values.js";
import { PTIMER_CNT, TIMER_CNT, TIMER_CVAL, fail } from "./common.js";
import { descsOf } from "../kernels/descs.js";
import type { SysregDesc } from "../kernels/descs.js";
import {
  REG_SCOPE_VM_FLAG,
  hasScopeFlag,
  identityRegId,
  identityService,
  stripScopeFlag,
} from "./proposals.js";
import { stateSlots } from "./reg-state.js";
import { CSSELR_MAX } from "./reset.js";
import type { SimVcpu } from "./vcpu.js";
import { isIdDesc, isVmFtrIdReg } from "./visibility.js";
import type { Scope } from "./vm.js";
import type { CpuModel } from "./cpus.js";
import type { GenerationModel } from "../kernels/model.js";

/** `slot`: where the vCPU's RegState keeps the register (stateSlots). */
type KindOf =
  | { k: "core"; slot: number }
  | { k: "fw" }
  | { k: "bitmap" }
  | { k: "identity"; service: number }
  | { k: "timer" }
  | { k: "cnt"; which: "v" | "p" }
  | { k: "demux"; sel: number }
  | { k: "sve" }
  | { k: "vls" }
  | { k: "id"; d: SysregDesc }
  /** `ctl`: CNTV_CTL_EL0 / CNTP_CTL_EL0, whose ISTATUS a write cannot set (arch_timer_set_user). */
  | { k: "sys"; d: SysregDesc; ctl: boolean; slot: number };

/** How KVM_GET/SET_ONE_REG treat an id, and its KVM_REG_SIZE in bytes. */
export type RegKind = KindOf & { readonly bytes: number };

/**
 * KVM_GET_REG_LIST's answer and every listed id's kind. It depends only on the generation, the host
 * CPU and what listKey covers, so the vCPUs that agree on those share one (currentList).
 */
export interface RegList {
  readonly ids: readonly RegId[];
  readonly kinds: ReadonlyMap<RegId, RegKind>;
  /** Every listed id is well-formed (malformedReason): a listed id is then answered from `kinds` alone. */
  readonly wellFormed: boolean;
  /** The ids with proposal (b)'s scope flag on the VM-scoped ones, made on first use. */
  flagged?: RegId[];
}

/**
 * Proposal (b): whether a write to a listed register changes it for the whole VM ("vm") or for this
 * vCPU only; undefined for an id the vCPU does not list.
 */
export function scopeOfId(vcpu: SimVcpu, id: RegId): Scope | undefined {
  const k = currentList(vcpu).kinds.get(stripScopeFlag(id));
  return k ? scopeOf(vcpu, k) : undefined;
}

function scopeOf(vcpu: SimVcpu, k: RegKind): Scope {
  const m = vcpu.vm.model;
  switch (k.k) {
    case "fw":
    case "bitmap":
    case "identity":
    case "cnt":
      return "vm"; // kvm->arch.psci_version, smccc_feat; WA levels are host-wide; counter offsets are VM-wide
    case "demux":
      return ccsidrScope(m); // invariant before 6.3, vcpu->arch.ccsidr after
    case "id":
      if (m.idRegs === "writable") return k.d.invariant || isVmFtrIdReg(k.d) ? "vm" : "vcpu";
      return k.d.invariant || k.d.name === "ID_AA64PFR0_EL1" ? "vm" : "vcpu"; // kvm->arch.pfr0_csv2/3
    default:
      return "vcpu";
  }
}

/** One listed descriptor of each distinct visibility function, by descriptor table (listKey). */
const visibilityProbes = new WeakMap<readonly SysregDesc[], SysregDesc[]>();

function visibilityProbesOf(descs: readonly SysregDesc[]): SysregDesc[] {
  let probes = visibilityProbes.get(descs);
  if (!probes) {
    const seen = new Map<string, SysregDesc>();
    for (const d of descs) if (d.listed && d.visibility && !seen.has(d.visibility)) seen.set(d.visibility, d);
    probes = [...seen.values()];
    visibilityProbes.set(descs, probes);
  }
  return probes;
}

/**
 * Everything buildRegList reads that can differ between vCPUs of a VM or change over its life: SVE
 * (core V-registers or SVE registers), proposal (a)'s identity registers, and sysreg_hidden's answer
 * for each visibility function (hidden() reads a descriptor's visibility and nothing else of it).
 * The generation, host CPU and cache geometry are the VM's.
 */
function listKey(vcpu: SimVcpu): string {
  let key = (vcpu.fset.sve ? "s" : "-") + (vcpu.vm.enabled.identity ? "i" : "-");
  for (const d of visibilityProbesOf(descsOf(vcpu.vm.model))) key += vcpu.hidden(d) ? "1" : "0";
  return key;
}

/**
 * kvm_arm_copy_reg_indices: core (copy_core_reg_indices), SVE, firmware (kvm_arm_copy_fw_reg_indices),
 * timer (copy_timer_indices, before 6.18), sys_reg_descs (walk_one_sys_reg: listed and not hidden),
 * demux CCSIDR (write_demux_regids). Visibility is evaluated whenever it may have changed (currentList).
 */
function buildRegList(vcpu: SimVcpu): RegList {
  const vm = vcpu.vm;
  const m = vm.model;
  const ids: RegId[] = [];
  const kinds = new Map<RegId, RegKind>();
  let wellFormed = true;
  const slots = stateSlots(descsOf(m));
  const slotOf = (id: RegId) => slots.get(id)!; // every core register and descriptor has one
  const add = (id: RegId, k: KindOf) => {
    ids.push(id);
    kinds.set(id, { ...k, bytes: regSizeBytes(id) });
    if (malformedReason(id)) wellFormed = false;
  };
  for (const c of CORE_REGS) {
    const cid = makeId(c.size, COPROC.core, c.offset);
    if (vcpu.fset.sve && regSizeBytes(cid) === 16) continue; // vregs only without SVE
    add(cid, { k: "core", slot: slotOf(cid) });
  }
  if (vcpu.fset.sve) {
    // copy_sve_reg_indices: VLS, then Z0..31, P0..15, FFR (slice 0)
    add(makeId("U512", COPROC.sve, 0xffff), { k: "vls" });
    for (let n = 0; n < 32; n++) add(makeId("U2048", COPROC.sve, n << 5), { k: "sve" });
    for (let n = 0; n < 16; n++) add(makeId("U256", COPROC.sve, 0x400 | (n << 5)), { k: "sve" });
    add(makeId("U256", COPROC.sve, 0x600), { k: "sve" });
  }
  const fw = m.fwRegs.filter((id) => ((id >> 16n) & 0xfffn) === BigInt(COPROC.fw));
  for (const id of fw) add(id, { k: "fw" });
  for (const s of m.services)
    if (vm.enabled.identity) add(identityRegId(s.service), { k: "identity", service: s.service });
  for (const id of m.fwRegs) if (!fw.includes(id)) add(id, { k: "bitmap" });
  for (const id of m.timerRegs)
    add(
      id,
      id === TIMER_CNT
        ? { k: "cnt", which: "v" }
        : id === PTIMER_CNT
          ? { k: "cnt", which: "p" }
          : { k: "timer" },
    );
  for (const d of descsOf(m)) {
    if (!d.listed || vcpu.hidden(d)) continue;
    // copy_reg_to_user (6.18+): CNTVCT_EL0 and CNTV_CVAL_EL0 keep the uapi ids KVM_REG_ARM_TIMER_CNT/_CVAL
    if (d.name === "CNTVCT_EL0") add(TIMER_CNT, { k: "cnt", which: "v" });
    else if (d.name === "CNTPCT_EL0") add(PTIMER_CNT, { k: "cnt", which: "p" });
    else if (d.name === "CNTV_CVAL_EL0") add(TIMER_CVAL, { k: "sys", d, ctl: false, slot: slotOf(d.id) });
    else if (isIdDesc(d) || d.invariant) add(d.id, { k: "id", d });
    else {
      const ctl = d.name === "CNTV_CTL_EL0" || d.name === "CNTP_CTL_EL0";
      add(d.id, { k: "sys", d, ctl, slot: slotOf(d.id) });
    }
  }
  if (m.cacheIds === "kvm") {
    // write_demux_regids (6.3+): CCSIDR[0 .. CSSELR_MAX - 1], whatever the cache hierarchy
    for (let sel = 0; sel < CSSELR_MAX; sel++) add(makeId("U32", COPROC.demux, sel), { k: "demux", sel });
  } else {
    // write_demux_regids (before 6.3): the caches the hardware's CLIDR_EL1 lists (is_valid_cache)
    const clidr = vm.cpu.cache.clidr;
    for (let lvl = 0; lvl < 7; lvl++) {
      const ctype = Number((clidr >> BigInt(3 * lvl)) & 7n);
      if (ctype === 0) break;
      if (ctype !== 1) add(makeId("U32", COPROC.demux, lvl * 2), { k: "demux", sel: lvl * 2 });
      if (ctype === 1 || ctype === 3)
        add(makeId("U32", COPROC.demux, lvl * 2 + 1), { k: "demux", sel: lvl * 2 + 1 });
    }
  }
  return { ids, kinds, wellFormed };
}

/** The lists built so far, by generation model, host CPU model and listKey: every VM of them shares them. */
const lists = new WeakMap<GenerationModel, WeakMap<CpuModel, Map<string, RegList>>>();

function listsOf(model: GenerationModel, cpu: CpuModel): Map<string, RegList> {
  let byCpu = lists.get(model);
  if (!byCpu) lists.set(model, (byCpu = new WeakMap()));
  let byKey = byCpu.get(cpu);
  if (!byKey) byCpu.set(cpu, (byKey = new Map()));
  return byKey;
}

/**
 * The vCPU's list as KVM would build it now. A vCPU looks again only after something that can change
 * it: its KVM_ARM_VCPU_INIT or FINALIZE, or a VM-wide change (SimVm.listEpoch: ID register writes, the
 * first reset of the VM's ID registers, the first run). buildRegList reads nothing but the generation,
 * the host CPU and what listKey covers, so vCPUs with the same key share a list, across VMs too.
 */
function currentList(vcpu: SimVcpu): RegList {
  const vm = vcpu.vm;
  if (vcpu.listEpoch !== vm.listEpoch || !vcpu.regList) {
    const known = listsOf(vm.model, vm.cpu);
    const key = listKey(vcpu);
    let list = known.get(key);
    if (!list) {
      list = buildRegList(vcpu);
      known.set(key, list);
    }
    vcpu.regList = list;
    vcpu.listEpoch = vm.listEpoch;
  }
  return vcpu.regList;
}

export function getRegListRaw(vcpu: SimVcpu, capacity: number): RegId[] {
  const op = "KVM_GET_REG_LIST";
  vcpu.live(op);
  if (!Number.isInteger(capacity) || capacity < 0)
    throw new RangeError("capacity must be a non-negative integer");
  if (!vcpu.initialized) fail(op, "ENOEXEC");
  if (!vcpu.finalized) fail(op, "EPERM"); // kvm_arm_vcpu_is_finalized
  const list = currentList(vcpu);
  if (capacity < list.ids.length) throw KvmError.withoutStack(op, "E2BIG", { required: list.ids.length });
  if (!vcpu.vm.enabled.scopeFlags) return list.ids.slice();
  list.flagged ??= list.ids.map((id) =>
    scopeOf(vcpu, list.kinds.get(id)!) === "vm" ? id | REG_SCOPE_VM_FLAG : id,
  );
  return list.flagged.slice();
}

/**
 * The kind of a listed id on a live, initialised vCPU, from the list alone; undefined when the full
 * checks of kindOf must answer (an id with the scope flag, one not listed, an SVE slice before
 * finalizing, a vCPU not initialised or gone), so that every error comes from there.
 */
export function listedKind(vcpu: SimVcpu, id: RegId): RegKind | undefined {
  if (!vcpu.alive || !vcpu.initialized) return undefined;
  const list = currentList(vcpu);
  const k = list.wellFormed ? list.kinds.get(id) : undefined;
  return k && (k.k !== "sve" || vcpu.finalized) ? k : undefined;
}

/** ENOEXEC before init, ENOENT for an id the vCPU does not have, EPERM for SVE slices before finalize. */
export function kindOf(vcpu: SimVcpu, op: string, id: RegId): RegKind {
  if (!vcpu.initialized) fail(op, "ENOEXEC");
  let base = id;
  if (hasScopeFlag(id)) {
    if (!vcpu.vm.enabled.scopeFlags) fail(op, "ENOENT"); // bits 28..51 set: no such register upstream
    base = stripScopeFlag(id);
  }
  if (malformedReason(base)) fail(op, "ENOENT");
  const k = currentList(vcpu).kinds.get(base);
  if (k) {
    if (base !== id && scopeOf(vcpu, k) !== "vm") fail(op, "ENOENT"); // the flag is only on VM-scoped ids
    // get_sve_reg/set_sve_reg: the Z/P/FFR slices need a finalized vCPU; KVM_REG_ARM64_SVE_VLS does not
    if (k.k === "sve" && !vcpu.finalized) fail(op, "EPERM");
    return k;
  }
  // The identity range of a kernel carrying proposal (a): RAZ/WI while the cap is off (and for unknown
  // services once it is on).
  const s = identityService(base);
  if (s !== undefined && vcpu.vm.system.proposals && regSizeBytes(base) === 8 && base === id)
    return { k: "identity", service: s, bytes: 8 };
  return fail(op, "ENOENT");
}
