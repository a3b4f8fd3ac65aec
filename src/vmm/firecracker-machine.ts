/**
 * What Firecracker can do with a template's machine pins (formats/machine-pins.ts): a custom CPU template
 * only carries vCPU features, capabilities and ONE_REG modifiers, so every machine item is said, one
 * note each, with the Firecracker source that decides it (read at commit 81b38b9 of
 * firecracker-microvm/firecracker):
 *
 * - GICD_IIDR: src/vmm/src/arch/aarch64/gic/gicv3/regs/dist_regs.rs saves and restores a fixed list of
 *   distributor registers (CTLR, STATUSR, the per-IRQ banks, IROUTER) without GICD_IIDR;
 * - GITS_IIDR: src/vmm/src/arch/aarch64/gic/gicv3/regs/its_regs.rs saves it and writes it back before the
 *   ITS tables, so a snapshot keeps the table ABI it was taken with; nothing chooses it at boot;
 * - PMU: src/vmm/src/arch/aarch64/vcpu.rs refuses KVM_ARM_VCPU_PMU_V3 (UnsupportedPmuV3);
 * - counter offset: src/vmm/src/arch/aarch64/kvm.rs only checks KVM_CAP_COUNTER_OFFSET, and vcpu.rs then
 *   writes KVM_REG_ARM_PTIMER_CNT = 0 through ONE_REG at boot; no KVM_ARM_SET_COUNTER_OFFSET call;
 * - SMCCC filter: no KVM_ARM_VM_SMCCC_CTRL / FILTER anywhere under src/vmm/src.
 */
import type { MachinePins } from "../formats/machine-pins.js";

const hex = (v: bigint | number): string => "0x" + v.toString(16);

/** One note per pinned machine item: what Firecracker does instead, as none has a template knob. */
export function firecrackerMachineNotes(m: MachinePins | undefined): string[] {
  if (!m) return [];
  const notes: string[] = [];
  if (m.gicdIidrRevision !== undefined)
    notes.push(
      `GICD_IIDR revision ${m.gicdIidrRevision} left out: Firecracker has no knob and neither saves nor writes GICD_IIDR (gic/gicv3/regs/dist_regs.rs), so the guest sees the host kernel's default revision`,
    );
  if (m.itsAbi !== undefined)
    notes.push(
      `ITS table ABI ${m.itsAbi} left out: no knob at boot; Firecracker snapshots save GITS_IIDR and restore it before the ITS tables (gic/gicv3/regs/its_regs.rs), so a restored VM keeps its ABI`,
    );
  if (m.pmuCounters !== undefined)
    notes.push(
      `PMU counters ${m.pmuCounters} left out: Firecracker has no PMU (arch/aarch64/vcpu.rs refuses KVM_ARM_VCPU_PMU_V3)`,
    );
  if (m.counterOffset !== undefined)
    notes.push(
      `counter offset ${hex(m.counterOffset)} left out: Firecracker never calls KVM_ARM_SET_COUNTER_OFFSET (with KVM_CAP_COUNTER_OFFSET it only zeroes KVM_REG_ARM_PTIMER_CNT at boot: arch/aarch64/vcpu.rs, kvm.rs)`,
    );
  if (m.smcccFilter !== undefined)
    notes.push(
      `SMCCC filter (${m.smcccFilter.length} range${m.smcccFilter.length === 1 ? "" : "s"}) left out: Firecracker sets no KVM_ARM_VM_SMCCC_FILTER, so KVM answers every hypercall itself`,
    );
  return notes;
}
