/** KVM_GET_ONE_REG / KVM_SET_ONE_REG dispatch: guest.c kvm_arm_get_reg / kvm_arm_set_reg, arch_timer.c. */
import { formatId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import type { RegValue } from "../types.js";
import { CORE_PSTATE, VCPU_FEATURES } from "../uapi.js";
import { regSizeBytes, regValueFits, regValueToBytes } from "../values.js";
import {
  ARCH_TIMER_CTRL_IT_STAT,
  M64,
  PTIMER_CTL,
  PTIMER_CVAL,
  TIMER_CTL,
  TIMER_CVAL,
  fail,
} from "./common.js";
import { getFw, setFw } from "./firmware-regs.js";
import { setCcsidr, setId } from "./id-writes.js";
import { setPmcr } from "./pmu.js";
import { stripScopeFlag } from "./proposals.js";
import { kindOf, listedKind } from "./reg-list.js";
import type { RegKind } from "./reg-list.js";
import { ccsidr, hostCcsidrU32 } from "./reset.js";
import type { SimVcpu } from "./vcpu.js";

/** The guest's view of a counter: the physical count minus the VM's offset (timer_get_offset). */
function counter(vcpu: SimVcpu, which: "v" | "p"): bigint {
  return (vcpu.vm.clock - (which === "v" ? vcpu.vm.voffset : vcpu.vm.poffset)) & M64;
}

/**
 * read_timer_ctl (arch_timer.c, 5.10..6.12, via kvm_arm_timer_get_reg): the saved CTL with ISTATUS set when
 * kvm_timer_compute_delta() is 0, i.e. the guest's counter is not below CVAL, whatever ENABLE says (the
 * kernel's own comment: ISTATUS is UNKNOWN while disabled). At reset CVAL is 0, so it reads 0x4. 6.18+ lists
 * the CTLs as sys_reg_descs instead: arch_timer_get_user returns the saved value ("sys" above).
 */
function readTimerCtl(vcpu: SimVcpu, which: "v" | "p"): bigint {
  const ctl = (vcpu.state.get(which === "v" ? TIMER_CTL : PTIMER_CTL) as bigint | undefined) ?? 0n;
  const cval = (vcpu.state.get(which === "v" ? TIMER_CVAL : PTIMER_CVAL) as bigint | undefined) ?? 0n;
  return counter(vcpu, which) >= cval ? ctl | ARCH_TIMER_CTRL_IT_STAT : ctl;
}

const GET = "KVM_GET_ONE_REG";
const SET = "KVM_SET_ONE_REG";
type OneRegIoctl = typeof GET | typeof SET;

/** The operation as a KvmError names it: "KVM_SET_ONE_REG 0x6030000000100000". */
const opOf = (ioctl: OneRegIoctl, id: RegId): string => `${ioctl} ${formatId(id)}`;

/**
 * The full checks (EBADF, then kindOf's), for an id listedKind does not answer: a listed id on a live,
 * initialised vCPU comes straight from its list.
 */
function checkedKind(vcpu: SimVcpu, ioctl: OneRegIoctl, id: RegId): RegKind {
  const op = opOf(ioctl, id);
  vcpu.live(op);
  return kindOf(vcpu, op, id);
}

export function getOneReg(vcpu: SimVcpu, id: RegId): RegValue {
  const listed = listedKind(vcpu, id);
  const k = listed ?? checkedKind(vcpu, GET, id);
  const base = listed ? id : stripScopeFlag(id); // listed ids have no scope flag
  const vm = vcpu.vm;
  switch (k.k) {
    case "core":
      return vcpu.state.getAt(k.slot) ?? 0n;
    case "timer":
      return base === TIMER_CTL || base === PTIMER_CTL
        ? readTimerCtl(vcpu, base === TIMER_CTL ? "v" : "p")
        : (vcpu.state.get(base) ?? 0n);
    case "sys":
      return vcpu.state.getAt(k.slot) ?? 0n;
    case "id":
      return vcpu.idValue(k.d);
    case "fw":
      return getFw(vcpu, base);
    case "bitmap":
      return vm.bitmaps.get(base) ?? 0n;
    case "identity":
      return vm.getIdentity(k.service);
    case "cnt":
      return counter(vcpu, k.which);
    case "demux":
      // demux_c15_get: put_user of get_ccsidr's u32 (the hardware's low 32 bits before 6.3)
      return vm.model.cacheIds === "kvm" ? ccsidr(vcpu, k.sel) : hostCcsidrU32(vcpu, k.sel);
    case "vls": {
      const b = new Uint8Array(64);
      for (let i = 0; i < 8; i++) b[i] = Number((vcpu.sveVqs >> BigInt(8 * i)) & 0xffn);
      return b;
    }
    case "sve":
      return (vcpu.state.get(base) as Uint8Array | undefined) ?? new Uint8Array(regSizeBytes(base));
  }
}

export function setOneReg(vcpu: SimVcpu, id: RegId, value: RegValue): void {
  const listed = listedKind(vcpu, id);
  const k = listed ?? checkedKind(vcpu, SET, id);
  const base = listed ? id : stripScopeFlag(id); // listed ids have no scope flag
  if (!regValueFits(k.bytes, value)) regValueToBytes(base, value); // representation check (RangeError)
  const vm = vcpu.vm;
  switch (k.k) {
    case "core":
      if (base === CORE_PSTATE) {
        // validate_core_offset / set_core_reg: only valid AArch64/AArch32 modes
        const mode = Number((value as bigint) & 0x1fn);
        if (
          ![0x0, 0x4, 0x5].includes(mode) &&
          !(vcpu.features.includes(VCPU_FEATURES.EL1_32BIT) && mode & 0x10)
        )
          fail(opOf(SET, id), "EINVAL");
      }
      vcpu.state.setAt(k.slot, value);
      return;
    case "sys":
      if (k.d.name === "PMCR_EL0") return setPmcr(vcpu, k.slot, value as bigint); // set_pmcr (6.7+)
      // arch_timer_set_user / kvm_arm_timer_write: the CTL registers' ISTATUS is read-only
      vcpu.state.setAt(k.slot, k.ctl ? (value as bigint) & ~ARCH_TIMER_CTRL_IT_STAT : value);
      return;
    case "timer":
      vcpu.state.set(
        base,
        base === TIMER_CTL || base === PTIMER_CTL ? (value as bigint) & ~ARCH_TIMER_CTRL_IT_STAT : value,
      );
      return;
    case "cnt": {
      // kvm_arm_timer_set_reg / arch_timer_set_user: the VM's offset (update_vtimer_cntvoff / timer_set_offset),
      // unless KVM_ARM_SET_COUNTER_OFFSET set it (KVM_ARCH_FLAG_VM_COUNTER_OFFSET: the write is ignored)
      if (vm.counterOffsetSet) return;
      const off = (vm.clock - (value as bigint)) & M64;
      if (k.which === "v") vm.voffset = off;
      else vm.poffset = off;
      return;
    }
    case "demux":
      return setCcsidr(vcpu, opOf(SET, id), k.sel, value as bigint);
    case "vls": {
      // set_sve_vls: EPERM once finalized; the set must be exactly the host's lengths up to its maximum,
      // which may not exceed kvm_sve_max_vl; the maximum becomes vcpu->arch.sve_max_vl
      if (vcpu.finalized) fail(opOf(SET, id), "EPERM");
      const bytes = value as Uint8Array;
      let want = 0n;
      for (let i = bytes.length - 1; i >= 0; i--) want = (want << 8n) | BigInt(bytes[i]!);
      const maxVq = want === 0n ? 0 : want.toString(2).length;
      if (maxVq === 0 || maxVq > vm.cpu.sveMaxVq) fail(opOf(SET, id), "EINVAL");
      const upTo = (1n << BigInt(maxVq)) - 1n;
      if (want !== (vm.cpu.sveVqMap & upTo)) fail(opOf(SET, id), "EINVAL");
      vcpu.sveVqs = want;
      return;
    }
    case "sve":
      vcpu.state.set(base, value);
      return;
    case "fw":
      return setFw(vcpu, opOf(SET, id), base, value as bigint);
    case "bitmap":
      return vm.setBitmap(opOf(SET, id), base, value as bigint, "vcpu");
    case "identity":
      return vm.setIdentity(opOf(SET, id), k.service, value as bigint, "vcpu");
    case "id":
      if (vcpu.userWriteIgnored(k.d)) return; // kvm_sys_reg_set_user: sysreg_user_write_ignore
      return setId(vcpu, opOf(SET, id), k.d, value as bigint);
  }
}
