/**
 * The guest ABI of a VM, as a template: what a register set, a live vCPU or a snapshot carries (its
 * feature ID registers, firmware registers and bitmaps, features and vector lengths), and the guest
 * ABI fingerprint a VM with such an ABI shows its guest.
 */
import { decodeId } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { KVM_CAP, VCPU_FEATURES, getRegList, normalizeVcpuInit } from "../kvm/index.js";
import type { KvmSystem, KvmVcpu, RegValue, VcpuInit } from "../kvm/index.js";
import { DEFAULT_CONDUIT, guestAbiFingerprint } from "../kvm/sim/fingerprint.js";
import type { Conduit, GuestAbiFingerprint } from "../kvm/sim/fingerprint.js";
import type { HostProfile } from "../formats/profile.js";
import type { HostIdentity, Snapshot } from "../formats/snapshot.js";
import { SVE_VLS_ID, vlsToVqs } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { VmOpError, kvmStep } from "./managed-vm.js";
import type { ManagedVcpu } from "./managed-vm.js";
import { applyMachinePins } from "./machine.js";
import { readMasks, writeAbiRegisters, writePhase } from "./write-order.js";
import { checkTemplateFirst, needsWritableImpIdRegs } from "./pin.js";

// ---- the ABI part of a register set, a vCPU and a snapshot -------------------------------------------

/**
 * The guest ABI a register set carries, as a template: the feature ID registers, the firmware
 * registers and bitmaps, with the features, vector lengths and the list itself. How a snapshot's vCPU
 * (abiOfSnapshot) or a live vCPU (abiOfVcpu) is compared and re-applied.
 */
export function abiFromRegs(
  regs: ReadonlyMap<RegId, RegValue>,
  features: readonly number[],
  sveVqs: readonly number[] | undefined,
  provenance: AbiTemplate["provenance"],
  name?: string,
): AbiTemplate {
  const idRegs = new Map<RegId, bigint>();
  const firmware = new Map<RegId, bigint>();
  for (const [id, value] of regs) {
    if (typeof value !== "bigint") continue;
    const phase = writePhase(id);
    if (phase === "id") idRegs.set(id, value);
    else if ((phase === "firmware" || phase === "bitmap") && decodeId(id).size === "U64")
      firmware.set(id, value);
  }
  return {
    ...(name !== undefined ? { name } : {}),
    idRegs,
    firmware,
    // POWER_OFF is how a vCPU starts, not ABI (6.12+ kvm_arch_vcpu_ioctl_vcpu_init clears it).
    features: [
      ...normalizeVcpuInit({ target: 0, features: features.filter((f) => f !== VCPU_FEATURES.POWER_OFF) })
        .features,
    ],
    ...(sveVqs ? { sveVqs: [...sveVqs] } : {}),
    regs: new Set(regs.keys()),
    provenance,
  };
}

/** The ABI a live, initialised vCPU has now (every register of KVM_GET_REG_LIST read once). */
export function abiOfVcpu(vcpu: KvmVcpu, init: VcpuInit, host: HostIdentity, name?: string): AbiTemplate {
  const ids = kvmStep("save", { op: "KVM_GET_REG_LIST", vcpu: vcpu.id }, () => getRegList(vcpu));
  const regs = new Map<RegId, RegValue>();
  for (const id of ids)
    regs.set(
      id,
      kvmStep("save", { op: "KVM_GET_ONE_REG", vcpu: vcpu.id, register: id }, () => vcpu.getOneReg(id)),
    );
  const vls = regs.get(SVE_VLS_ID);
  return abiFromRegs(
    regs,
    init.features,
    vls instanceof Uint8Array ? vlsToVqs(vls) : undefined,
    { derivedFrom: [{ ...host }] },
    name,
  );
}

/**
 * The guest ABI a snapshot carries, as a template: vCPU 0's feature ID registers and firmware
 * registers and bitmaps, its features and vector lengths, and its register list.
 */
export function abiOfSnapshot(s: Snapshot, name?: string): AbiTemplate {
  const v = s.vcpus[0];
  if (!v) throw new VmOpError("save", "input", "the snapshot has no vCPU");
  return abiFromRegs(
    v.regs,
    v.init.features,
    v.sveVqs,
    {
      derivedFrom: [{ ...s.source }],
      note: "the ABI registers of a snapshot's vCPU 0",
    },
    name,
  );
}

// ---- fingerprints -------------------------------------------------------------------------------

/**
 * The guest ABI fingerprint (src/kvm/sim guestAbiFingerprint: the guest probe program's view, hashed)
 * of a fresh one-vCPU VM on `system` with the host's defaults, or with an ABI applied after
 * KVM_ARM_VCPU_INIT as pin does (ID registers, firmware registers, bitmaps; with the host's profile,
 * checked first and tolerated-absent registers skipped, as pin does), as a guest whose firmware tables
 * name `conduit` sees it (the VMM's; HVC by default, see guestAbiFingerprint). The probe runs the VM,
 * so it is always a throwaway VM, never the one being migrated.
 */
export function abiFingerprint(
  system: KvmSystem,
  abi: AbiTemplate | "host-defaults",
  features: readonly number[] = [VCPU_FEATURES.PSCI_0_2],
  profile?: HostProfile,
  conduit: Conduit = DEFAULT_CONDUIT,
): GuestAbiFingerprint {
  if (abi === "host-defaults") return guestAbiFingerprint(system, features, {}, conduit);
  const feats = abi.features;
  const { tolerated } = checkTemplateFirst("pin", abi, profile);
  const needsImp = needsWritableImpIdRegs(system, abi);
  let pinned: ManagedVcpu | undefined;
  return guestAbiFingerprint(
    system,
    feats,
    {
      beforeVcpus: (vm) => {
        if (needsImp) vm.enableCap(KVM_CAP.ARM_WRITABLE_IMP_ID_REGS);
      },
      afterInit: (vm, vcpu) => {
        pinned = { vcpu, init: { target: 0, features: [...feats] }, attrs: [] };
        writeAbiRegisters("pin", [vcpu], abi.idRegs, abi.firmware, readMasks(vm), tolerated);
      },
      afterIrqchip: (vm, chip) => {
        if (abi.machine && pinned) applyMachinePins("pin", vm, [pinned], chip, abi.machine);
      },
    },
    conduit,
  );
}

/**
 * The items in which two fingerprints' guest views differ, matched by item name (the text before
 * ": "): [line of a, line of b], "(none)" for an item only one has; in a's order, then b's extra items.
 * Both must be taken over the same conduit.
 */
export function fingerprintDiff(a: GuestAbiFingerprint, b: GuestAbiFingerprint): [string, string][] {
  sameConduit(a, b);
  return lineDiff(a.lines, b.lines);
}

/**
 * The same for the calls through the other conduit, recorded apart (guestAbiFingerprint): what changed
 * there is no change a guest of that VMM sees.
 */
export function otherConduitDiff(a: GuestAbiFingerprint, b: GuestAbiFingerprint): [string, string][] {
  sameConduit(a, b);
  return lineDiff(a.otherConduit.lines, b.otherConduit.lines);
}

function sameConduit(a: GuestAbiFingerprint, b: GuestAbiFingerprint): void {
  if (a.conduit !== b.conduit)
    throw new RangeError(`fingerprints over different conduits (${a.conduit}, ${b.conduit}) do not compare`);
}

function lineDiff(a: readonly string[], b: readonly string[]): [string, string][] {
  const key = (l: string) => l.split(": ")[0]!;
  const inB = new Map(b.map((l) => [key(l), l]));
  const inA = new Set(a.map(key));
  const out: [string, string][] = [];
  for (const l of a) {
    const m = inB.get(key(l));
    if (m !== l) out.push([l, m ?? "(none)"]);
  }
  for (const l of b) if (!inA.has(key(l))) out.push(["(none)", l]);
  return out;
}
