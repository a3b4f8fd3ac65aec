/**
 * What a guest sees of its ABI on a host, from the host's profile alone (no simulator run): the values
 * of the registers the guest reads or whose services it calls, for a VM with the host's defaults or
 * pinned to a template. impact and rollout compare a VM's view on the source and on the target host;
 * what differs is a change the guest sees (effects.ts turns it into words).
 *
 * - ONE_REG values the guest reads: the feature ID registers (MRS of the ID space), the firmware
 *   registers (PSCI_VERSION, the SMCCC workaround levels: what the guest's PSCI_VERSION and
 *   SMCCC_ARCH_FEATURES calls answer) and the hypercall service bitmaps (which services answer);
 * - a bitmap the kernel lacks (before 6.0; VENDOR_HYP_BMAP_2 before 6.15): the services its guest saw,
 *   on or off unconditionally (config-view.ts servicesFromGuestView, from the probe's guest run);
 * - CTR_EL0 as the guest reads it: the VM's register where the read traps, else the CPU's own
 *   (cache-rules.ts guestCtrSeen: no register pins it there);
 * - the vGICv3 and ITS identification registers the guest reads (the profile's machine readings), the
 *   IIDR revisions a template pins (vgic_mmio_uaccess_write_v3_misc, vgic_its_set_abi) applied.
 *
 * What it leaves out: the SMC conduit's answers (handle_smc: up to 6.1 an SMC returns -1, from 6.4
 * SMC #0 is an SMCCC call), which only a guest whose VMM's tables name SMC sees and no register pins;
 * smcDifferences reports them apart.
 */
import type { RegId } from "../regs/index.js";
import type { HostProfile } from "../formats/profile.js";
import { profileRules } from "../formats/profile.js";
import type { RegValue } from "../kvm/index.js";
import { SVE_VLS_ID } from "../formats/snapshot.js";
import { ccsidrId } from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import { leBytes64 } from "../check/requirements.js";
import { CTR_ID, guestCtrOf, guestCtrSeen } from "../check/cache-rules.js";
import { configView } from "../check/config-view.js";
import type { MachinePins } from "../formats/machine-pins.js";
import { gicdIidr, gitsIidr } from "../kvm/rules/vgic.js";
import { nameOf } from "../regs/index.js";
import { writePhase } from "../vm/write-order.js";
import { guestEffects, guestRegisterValues } from "./effects.js";
import type { GuestEffect } from "./effects.js";

export interface GuestView {
  /** Register values the guest reads or whose services it calls. */
  regs: Map<RegId, bigint>;
  /** The vGICv3 / ITS identification registers the guest reads, by name (GICD_IIDR...). */
  machine: Map<string, bigint>;
  /** How the probe guest's calls through the SMC conduit were handled, by call (outside the view: see the top). */
  smc: Map<string, string>;
}

/**
 * What a VM sets over the host's defaults when it starts (pin.ts): register values (a template's, or
 * a VMM option's), vector lengths, machine pins.
 */
export interface Pins {
  regs: ReadonlyMap<RegId, RegValue>;
  sveVqs?: readonly number[] | undefined;
  machine?: MachinePins | undefined;
}

/** A template's pins: its ID and firmware registers, cache geometry, vector lengths, machine section. */
export function templatePins(t: AbiTemplate): Pins {
  const regs = new Map<RegId, RegValue>([...t.idRegs, ...t.firmware]);
  for (const [sel, v] of t.ccsidr ?? []) regs.set(ccsidrId(sel), v);
  if (t.sveVqs) regs.set(SVE_VLS_ID, leBytes64(t.sveVqs.reduce((m, q) => m | (1n << BigInt(q - 1)), 0n)));
  return { regs, sveVqs: t.sveVqs, machine: t.machine };
}

/** Whether a register's value is guest ABI the view carries (writePhase: ID space, firmware, bitmaps). */
const inView = (id: RegId): boolean => {
  const p = writePhase(id);
  return p === "id" || p === "firmware" || p === "bitmap";
};

/**
 * The guest's view of a one-vCPU VM with `features` on the host of `profile`, with the host's defaults
 * or with `pins` applied as pin does; undefined when no probed configuration of the host initialises
 * with a subset of the features (config-view.ts).
 */
export function guestView(
  profile: HostProfile,
  features: readonly number[],
  pins?: Pins,
): GuestView | undefined {
  const v = configView(profile, features);
  const offered = guestRegisterValues(profile, features);
  if (!v || !offered) return undefined;
  const regs = new Map<RegId, bigint>();
  for (const [id, value] of offered) if (inView(id)) regs.set(id, value);
  // pin writes what the host lists; a register it lacks is skipped (where tolerated: pin.ts).
  for (const [id, value] of pins?.regs ?? [])
    if (typeof value === "bigint" && v.reset.has(id) && inView(id)) regs.set(id, value);
  const ctr = regs.get(CTR_ID);
  const g = guestCtrOf(v, profileRules(profile).generation);
  const seen = ctr !== undefined && g ? guestCtrSeen(g, ctr, features) : undefined;
  if (seen !== undefined) regs.set(CTR_ID, seen);
  const machine = new Map<string, bigint>();
  for (const [name, value] of v.base.machine?.regs ?? [])
    if (typeof value === "bigint") machine.set(name, value);
  const m = pins?.machine;
  if (m?.gicdIidrRevision !== undefined && machine.has("GICD_IIDR"))
    machine.set("GICD_IIDR", BigInt(gicdIidr(m.gicdIidrRevision)));
  if (m?.itsAbi !== undefined && machine.has("GITS_IIDR"))
    machine.set("GITS_IIDR", BigInt(gitsIidr(m.itsAbi)));
  const smc = new Map<string, string>();
  for (const it of v.base.firstRun?.items ?? [])
    if (it.name.endsWith(SMC_SUFFIX))
      smc.set(
        it.name.slice(0, -SMC_SUFFIX.length),
        it.outcome === "returned" && it.x?.[0] === NOT_SUPPORTED ? "-1 (not an SMCCC call)" : "answered",
      );
  return { regs, machine, smc };
}

const SMC_SUFFIX = " via smc";
/** SMCCC_RET_NOT_SUPPORTED in x0: what handle_smc returns for an SMC it does not take as an SMCCC call. */
const NOT_SUPPORTED = 0xffffffffffffffffn;

/** The keys whose values differ between two maps (present on one side only included), in a's order then b's. */
function differing<K, V>(a: ReadonlyMap<K, V>, b: ReadonlyMap<K, V>): K[] {
  const out: K[] = [];
  for (const [k, v] of a) if (b.get(k) !== v) out.push(k);
  for (const k of b.keys()) if (!a.has(k)) out.push(k);
  return out;
}

/** What differs between two views: registers and machine registers. */
export function viewDifferences(a: GuestView, b: GuestView): { regs: RegId[]; machine: string[] } {
  return { regs: differing(a.regs, b.regs), machine: differing(a.machine, b.machine) };
}

/**
 * The calls through the SMC conduit whose handling differs: answered as an SMCCC call on one side, -1
 * on the other ("PSCI_VERSION by SMC: answered -> -1 (not an SMCCC call)").
 */
export function smcDifferences(a: GuestView, b: GuestView): string[] {
  return differing(a.smc, b.smc).map(
    (k) => `${k} by SMC: ${a.smc.get(k) ?? "no call"} -> ${b.smc.get(k) ?? "no call"}`,
  );
}

const hex = (v: bigint | undefined): string => (v === undefined ? "nothing" : `0x${v.toString(16)}`);

/** "the guest sees NAME 0x.. instead of 0x..": a difference effects.ts has no words for. */
function plainEffect(name: string, before: bigint | undefined, after: bigint | undefined): GuestEffect {
  const [from, to] = [hex(before), hex(after)];
  return {
    what: name,
    change: "changes",
    from,
    to,
    text: `the guest sees ${name} ${to} instead of ${from}`,
    registers: [name],
  };
}

/**
 * What the guest sees change going from view `a` to view `b`, in words: effects.ts's (PSCI, the
 * workaround levels, each hypercall service, each feature ID field), then every other differing
 * register (CTR_EL0 where the read does not trap, MIDR_EL1...) and vGIC identification register as
 * its value.
 */
export function viewEffects(a: GuestView, b: GuestView): GuestEffect[] {
  const out = guestEffects(a.regs, b.regs);
  const named = out.flatMap((e) => e.registers);
  const d = viewDifferences(a, b);
  for (const id of d.regs) {
    const name = nameOf(id).name;
    if (!named.some((r) => r === name || r.startsWith(`${name}.`) || r.startsWith(`${name} bit `)))
      out.push(plainEffect(name, a.regs.get(id), b.regs.get(id)));
  }
  for (const name of d.machine) out.push(plainEffect(name, a.machine.get(name), b.machine.get(name)));
  return out;
}
