/**
 * A vCPU PMU's device attributes (pmu-emul.c kvm_arm_pmu_v3_set_attr) and its counter count (PMCR_EL0.N:
 * sys_regs.c set_pmcr, kvm_arm_pmu_v3_set_nr_counters), wired to the in-kernel vGIC when the VM has one.
 */
import { readAttrU32 } from "../machine.js";
import { descByName } from "../kernels/descs.js";
import { pmuCountersWrite } from "../rules/vgic.js";
import { fail } from "./common.js";
import { getField } from "./descs.js";
import { cpuHas32bitEl0, hostSanitised } from "./idregs.js";
import type { SimVcpu } from "./vcpu.js";
import { attrData } from "./vgic.js";
import type { SimVm } from "./vm.js";

/** irq_is_ppi / irq_is_spi (VGIC_MAX_SPI 1019). */
const isPpi = (irq: number) => irq >= 16 && irq < 32;
const isSpi = (irq: number) => irq >= 32 && irq <= 1019;

/** KVM_PMU_EVENT_ALLOW / _DENY. */
const PMU_EVENT_DENY = 1;
/** PMCR_EL0.N, bits 15:11. */
const PMCR_N_SHIFT = 11n;
const PMCR_N_MASK = 0x1fn << PMCR_N_SHIFT;
/** ARMV8_PMU_PMCR_MASK: the bits set_pmcr keeps besides N (E, P, C, D, X, DP, LC, LP). */
const PMCR_MASK = 0xffn;
const PMCR_LC = 1n << 6n;

/**
 * kvm_arm_pmu_v3_set_attr: ENODEV without the PMU feature, EBUSY once this vCPU's PMU is initialised, then
 * the attribute (ENXIO for one the kernel lacks).
 */
export function setPmuAttr(vcpu: SimVcpu, op: string, attr: number, data: Uint8Array | undefined): void {
  const vm = vcpu.vm;
  if (!vcpu.fset.pmu) fail(op, "ENODEV");
  if (vcpu.pmuInit) fail(op, "EBUSY");
  if (attr > vm.model.pmuCtrlMaxAttr) fail(op, "ENXIO");
  switch (attr) {
    case 0: {
      // KVM_ARM_VCPU_PMU_V3_IRQ: an in-kernel irqchip, a PPI or SPI, pmu_irq_is_valid, set once
      if (!vm.vgic) fail(op, "EINVAL");
      const irq = readAttrU32(attrData(op, data, 4)) | 0; // an int
      if (!isPpi(irq) && !isSpi(irq)) fail(op, "EINVAL");
      // pmu_irq_is_valid: every vCPU's PPI is the same one, every vCPU's SPI its own
      for (const other of vm.vcpus)
        if (other.pmuIrq !== undefined && (isPpi(irq) ? other.pmuIrq !== irq : other.pmuIrq === irq))
          fail(op, "EINVAL");
      if (vcpu.pmuIrq !== undefined) fail(op, "EBUSY");
      vcpu.pmuIrq = irq;
      return;
    }
    case 1:
      // kvm_arm_pmu_v3_init: with an in-kernel vGIC it must be initialised (ENODEV) and the IRQ set (ENXIO)
      if (vm.vgic && !vm.vgic.initialized) fail(op, "ENODEV");
      if (vm.vgic && vcpu.pmuIrq === undefined) fail(op, "ENXIO");
      vcpu.pmuInit = true;
      return;
    case 2: {
      // KVM_ARM_VCPU_PMU_V3_FILTER: the event range and action, then (6.1+) EBUSY once the VM ran. The
      // filter's effect on the guest (PMCEID0/1_EL0, uncounted events) is not modelled.
      const f = attrData(op, data, 8);
      const view = new DataView(f.buffer, f.byteOffset, 8);
      const end = view.getUint16(0, true) + view.getUint16(2, true);
      if (end > pmuEventCount(vm) || view.getUint8(4) > PMU_EVENT_DENY) fail(op, "EINVAL");
      if (vm.model.pmuFilterLockedAfterRun && vm.ranOnce) fail(op, "EBUSY");
      return;
    }
    case 3:
      // KVM_ARM_VCPU_PMU_V3_SET_PMU: the simulated host has one PMU, whose perf type is not modelled
      return fail(op, "ENXIO", "SET_PMU is not modelled");
    case 4: {
      // kvm_arm_pmu_v3_set_nr_counters: the VM's counter count, at most the hardware's
      const n = readAttrU32(attrData(op, data, 4));
      const r = pmuCountersWrite(vm.model, "attr", n, vm.cpu.pmuCounters, vm.ranOnce);
      if (r.kind === "error") fail(op, r.errno, r.why);
      setPmuNrCounters(vm, n);
      return;
    }
    default:
      fail(op, "ENXIO");
  }
}

/**
 * The PMU's event space for the filter (kvm_pmu_event_mask + 1): 10-bit events with PMUv3 (IMP), 16-bit
 * from PMUv3p1, from the host's PMUVer.
 */
function pmuEventCount(vm: SimVm): number {
  const pmuver = getField(hostSanitised(vm.model, vm.cpu, "ID_AA64DFR0_EL1"), "ID_AA64DFR0_EL1", "PMUVer");
  return pmuver === 1 ? 1024 : pmuver >= 4 && pmuver < 0xf ? 65536 : 0;
}

/** kvm->arch.pmcr_n / nr_pmu_counters: every vCPU's PMCR_EL0.N reads it (kvm_vcpu_read_pmcr). */
function setPmuNrCounters(vm: SimVm, n: number): void {
  vm.pmuNrCounters = n;
  const pmcr = descByName(vm.model, "PMCR_EL0");
  if (!pmcr) return;
  for (const v of vm.vcpus) {
    const cur = v.state.get(pmcr.id) as bigint | undefined;
    if (cur !== undefined) v.state.set(pmcr.id, (cur & ~PMCR_N_MASK) | (BigInt(n) << PMCR_N_SHIFT));
  }
}

/**
 * KVM_SET_ONE_REG(PMCR_EL0): 5.10/6.1 store the value as given; 6.7+ set_pmcr takes N for the VM when the VM
 * has not run and N is within the hardware's counters (otherwise silently keeps it), keeps only the low byte
 * of the rest, and sets LC without 32-bit EL0.
 */
export function setPmcr(vcpu: SimVcpu, slot: number, value: bigint): void {
  const vm = vcpu.vm;
  if (vm.model.pmcrReset === "host") {
    vcpu.state.setAt(slot, value);
    return;
  }
  const n = Number((value & PMCR_N_MASK) >> PMCR_N_SHIFT);
  if (pmuCountersWrite(vm.model, "pmcr", n, vm.cpu.pmuCounters, vm.ranOnce).kind === "set")
    setPmuNrCounters(vm, n);
  const lc = cpuHas32bitEl0(vm.cpu) ? 0n : PMCR_LC;
  vcpu.state.setAt(slot, (value & PMCR_MASK) | lc | (BigInt(vm.pmuNrCounters) << PMCR_N_SHIFT));
}
