/**
 * A subject of `guestabi check` (a snapshot or an ABI template) compiled once into its Requirements:
 * per class of identical vCPUs, the registers it carries (a bitset over REGISTRY indices), the values
 * the checker compares (as 32-bit halves, in index order), and what the rules need besides (vector
 * lengths, SSBS, the source's guest services, which values are "never touched"). Compile once, check
 * against many hosts (check.ts).
 */
import type { RegId } from "../regs/index.js";
import { VCPU_ATTR } from "../kvm/index.js";
import type { RegValue } from "../kvm/index.js";
import type { HostProfile } from "../formats/profile.js";
import { profileRules } from "../formats/profile.js";
import type { HostIdentity, Snapshot, VcpuSnapshot, VmState } from "../formats/snapshot.js";
import { SVE_VLS_ID } from "../formats/snapshot.js";
import { ccsidrId } from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import type { MachinePins } from "../formats/machine-pins.js";
import { iidrRevision } from "../kvm/rules/vgic.js";
import { CLIDR_ID, CTR_ID, guestCtrOf, guestCtrSeen, implementedCaches } from "./cache-rules.js";
import { configView, featureKey, servicesFromGuestView } from "./config-view.js";
import { REGISTRY, bitsetOf, bytesToBigint, hi32, isUntouched, lo32 } from "./registry.js";

/** What value rules need to know of the subject's vCPU besides the value they judge. */
export interface SubjectFacts {
  /** SVE vector lengths (bitmask of vq - 1), when the vCPU has SVE. */
  vqs: bigint | undefined;
  /** The subject's ID_AA64PFR1_EL1.SSBS (WORKAROUND_2 on 6.12+), when known. */
  ssbs: number | undefined;
}

/** One class of identical vCPUs (or the template's one vCPU), compiled. */
export interface VcpuRequirement extends SubjectFacts {
  /** The snapshot's vCPU ids in this class (empty for a template). */
  vcpus: number[];
  /** The interned register set (present): hosts keep a plan per layout. */
  layout: number;
  features: number[];
  featureKey: string;
  target: number | undefined;
  present: Uint32Array;
  /** The registers whose values are compared (firmware, ID space, CCSIDR, VLS), sorted by index. */
  checked: Int32Array;
  cLo: Uint32Array;
  cHi: Uint32Array;
  /** 0: the subject does not fix this register's value (a template without one). */
  cKnown: Uint8Array;
  /** Every known value, by index (reasons, missing registers, VLS). */
  values: Map<number, RegValue>;
  /** Registers at "never knew" values: what a VM that never touched them has (see atReset). */
  atReset: Uint32Array;
  /** Time-varying registers (kernel-source rules and the source profile's marks). */
  tv: Uint32Array;
  /** Bitmap id -> the services the guest saw for a bitmap the source kernel lacked (source profile). */
  sourceServices: Map<RegId, bigint>;
  /** How `atReset` was decided: from the source profile's reset values, or 0 / reset_unknown. */
  resetFrom: "source profile" | "assumed";
  /** The cache selectors the subject's CLIDR_EL1 implements (implementedCaches), when it has one. */
  caches: number | undefined;
  /**
   * The CTR_EL0 the guest read before (cache-rules.ts guestCtrLevel): the source's guest's
   * (guestCtrSeen) with a source profile; a template's value; unknown for a snapshot without one.
   */
  expectedGuestCtr: bigint | undefined;
}

export interface Requirements {
  kind: "snapshot" | "template";
  label: string;
  sources: HostIdentity[];
  vm: VmState | undefined;
  /** A vCPU sets KVM_ARM_VCPU_PVTIME_CTRL (stolen time). */
  pvTime: boolean;
  /** vCPUs of a snapshot (1 for a template). */
  vcpuCount: number;
  classes: VcpuRequirement[];
  /** A template's machine pins (guest ABI outside ONE_REG, check/machine.ts); undefined for snapshots. */
  machine: MachinePins | undefined;
  /**
   * Subjects equal in everything a rule reads to decide a level, but which registers are at a "never
   * knew" value (atReset), share a signature (signatureOf): checkLevel's memo key (level-memo.ts),
   * with the atReset bits of the registers the host lacks. The label, the vCPU ids and the values of
   * state registers (beyond atReset) only appear in reasons.
   */
  signature: number;
}

export interface CompileSubjectOptions {
  /** The source host's profile: its reset values decide which registers a VM never touched. */
  sourceProfile?: HostProfile;
  label?: string;
}

export function isSnapshot(s: Snapshot | AbiTemplate): s is Snapshot {
  return "vcpus" in s;
}

const PFR1 = 0x603000000013c021n;

/**
 * What a snapshot's machine asks of a destination: the revisions its vGIC and ITS had, which a restore
 * writes back (vm/machine.ts setMachineRevisions). A snapshot without a machine asks nothing.
 */
function snapshotMachinePins(s: Snapshot): MachinePins | undefined {
  const m = s.vm.machine;
  if (!m) return undefined;
  return {
    gicdIidrRevision: iidrRevision(m.gicdIidr),
    ...(m.gitsIidr !== undefined ? { itsAbi: iidrRevision(m.gitsIidr) } : {}),
  };
}

/** A class of vCPUs before compilation. */
interface RawClass {
  vcpus: number[];
  features: number[];
  target: number | undefined;
  sveVqs: number[] | undefined;
  present: RegId[];
  values: Map<RegId, RegValue>;
}

/** Compiles a snapshot or template into its requirements (once; check them against many hosts). */
export function compileSubject(
  subject: Snapshot | AbiTemplate,
  opts: CompileSubjectOptions = {},
): Requirements {
  const snapshot = isSnapshot(subject);
  const raws = snapshot ? snapshotClasses(subject) : [templateClass(subject)];
  const req: Omit<Requirements, "signature"> = {
    kind: snapshot ? "snapshot" : "template",
    label:
      opts.label ??
      (snapshot
        ? `snapshot from ${subject.source.release}`
        : `template${subject.name ? ` ${subject.name}` : ""}`),
    sources: snapshot ? [subject.source] : subject.provenance.derivedFrom,
    vm: snapshot ? subject.vm : undefined,
    pvTime:
      snapshot && subject.vcpus.some((v) => v.attrs.some((a) => a.group === VCPU_ATTR.PVTIME_CTRL.group)),
    vcpuCount: snapshot ? subject.vcpus.length : 1,
    classes: raws.map((r) => compileClass(r, opts, snapshot)),
    machine: snapshot ? snapshotMachinePins(subject) : subject.machine,
  };
  return { ...req, signature: signatureOf(req) };
}

/** A snapshot's vCPUs grouped into classes equal in everything checked. */
function snapshotClasses(subject: Snapshot): RawClass[] {
  const byKey = new Map<string, RawClass>();
  for (const v of subject.vcpus) {
    // One vCPU is one class: no key to build, only its ids interned in classKey's (ascending) order.
    if (subject.vcpus.length === 1) REGISTRY.internSorted(v.regs.keys());
    const key = subject.vcpus.length === 1 ? "" : classKey(v);
    const known = byKey.get(key);
    if (known) known.vcpus.push(v.id);
    else
      byKey.set(key, {
        vcpus: [v.id],
        features: [...v.init.features],
        target: v.init.target,
        sveVqs: v.sveVqs,
        present: [...v.regs.keys()],
        values: v.regs,
      });
  }
  return [...byKey.values()];
}

function templateClass(subject: AbiTemplate): RawClass {
  const values = new Map<RegId, RegValue>([...subject.idRegs, ...subject.firmware]);
  for (const [sel, v] of subject.ccsidr ?? []) values.set(ccsidrId(sel), v);
  const present = new Set(subject.regs);
  if (subject.sveVqs) {
    values.set(SVE_VLS_ID, leBytes64(vqMask(subject.sveVqs)));
    present.add(SVE_VLS_ID);
  }
  return {
    vcpus: [],
    features: [...subject.features],
    target: undefined,
    sveVqs: subject.sveVqs,
    present: [...present],
    values,
  };
}

/** vCPUs differ in state (MPIDR, pc...): a class groups the ones equal in everything checked. */
function classKey(v: VcpuSnapshot): string {
  const parts = [v.init.features.join(","), String(v.init.target), (v.sveVqs ?? []).join(",")];
  const ids = [...v.regs.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  for (const id of ids) {
    const val = v.regs.get(id);
    if (val === undefined) continue;
    if (REGISTRY.checkClass(REGISTRY.intern(id)) === "state")
      // State values matter only as "never touched" for registers a destination may lack.
      parts.push(`${id.toString(16)}${isUntouched(val) ? "" : "*"}`);
    else
      parts.push(
        `${id.toString(16)}=${typeof val === "bigint" ? val.toString(16) : Buffer.from(val).toString("hex")}`,
      );
  }
  return parts.join(";");
}

function compileClass(r: RawClass, opts: CompileSubjectOptions, snapshot: boolean): VcpuRequirement {
  const src = opts.sourceProfile ? configView(opts.sourceProfile, r.features) : undefined;
  const srcReset = src?.reset;
  const checked: number[] = [];
  const values = new Map<number, RegValue>();
  const atReset: number[] = [];
  const tv: number[] = [];
  const indices: number[] = [];
  for (const id of r.present) {
    const i = REGISTRY.intern(id);
    indices.push(i);
    const v = r.values.get(id);
    if (v !== undefined) values.set(i, v);
    if (REGISTRY.checkClass(i) !== "state") checked.push(i);
    if (REGISTRY.tvMask(i) !== undefined || src?.tv.has(id)) tv.push(i);
    if (v === undefined) continue;
    // "Never knew" value: the source's own reset value when its profile is given, else 0 or the
    // value reset_unknown() leaves (what a VM that never touched the register has).
    const s = srcReset?.get(id);
    const never = srcReset && s !== undefined && typeof s !== "string" ? sameValue(v, s) : isUntouched(v);
    if (never) atReset.push(i);
  }
  checked.sort((a, b) => a - b);
  const cLo = new Uint32Array(checked.length);
  const cHi = new Uint32Array(checked.length);
  const cKnown = new Uint8Array(checked.length);
  checked.forEach((i, k) => {
    const v = values.get(i);
    if (typeof v === "bigint") {
      cLo[k] = lo32(v);
      cHi[k] = hi32(v);
      cKnown[k] = 1;
    } else if (v instanceof Uint8Array) cKnown[k] = 1;
  });
  const sourceServices = new Map<RegId, bigint>();
  if (src)
    for (const [bm, val] of servicesFromGuestView(src.base))
      if (!src.reset.has(bm)) sourceServices.set(bm, val);
  const vls = r.values.get(SVE_VLS_ID);
  const pfr1 = r.values.get(PFR1);
  const clidr = values.get(REGISTRY.intern(CLIDR_ID));
  const ctr = values.get(REGISTRY.intern(CTR_ID));
  const srcCtr =
    src && opts.sourceProfile ? guestCtrOf(src, profileRules(opts.sourceProfile).generation) : undefined;
  const present = bitsetOf(indices);
  return {
    vcpus: r.vcpus,
    layout: internLayout(present),
    features: r.features,
    featureKey: featureKey(r.features),
    target: r.target,
    present,
    checked: Int32Array.from(checked),
    cLo,
    cHi,
    cKnown,
    values,
    atReset: bitsetOf(atReset),
    tv: bitsetOf(tv),
    vqs: r.sveVqs ? vqMask(r.sveVqs) : vls instanceof Uint8Array ? bytesToBigint(vls) : undefined,
    sourceServices,
    resetFrom: srcReset ? "source profile" : "assumed",
    ssbs: typeof pfr1 === "bigint" ? Number((pfr1 >> 4n) & 0xfn) : undefined,
    caches: typeof clidr === "bigint" ? implementedCaches(clidr) : undefined,
    expectedGuestCtr:
      typeof ctr !== "bigint"
        ? undefined
        : srcCtr
          ? guestCtrSeen(srcCtr, ctr, r.features)
          : snapshot
            ? undefined
            : ctr,
  };
}

function sameValue(a: RegValue, b: RegValue): boolean {
  if (typeof a === "bigint" || typeof b === "bigint") return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** SVE vector lengths (vq numbers) as a bitmask of vq - 1. */
function vqMask(vqs: readonly number[]): bigint {
  let m = 0n;
  for (const q of vqs) m |= 1n << BigInt(q - 1);
  return m;
}

/** A 512-bit mask as KVM_REG_ARM64_SVE_VLS's 64 little-endian bytes. */
export function leBytes64(m: bigint): Uint8Array {
  const out = new Uint8Array(64);
  for (let b = 0; b < 64; b++) out[b] = Number((m >> BigInt(8 * b)) & 0xffn);
  return out;
}

/** A bitset without its trailing zero words: equal sets, equal words, whatever their lengths. */
function trimmed(set: Uint32Array): Uint32Array {
  let end = set.length;
  while (end > 0 && set[end - 1] === 0) end--;
  return set.subarray(0, end);
}

/** Register sets, interned: subjects with the same set share a layout (and the hosts' plans for it). */
const layouts = new Map<string, number>();
function internLayout(present: Uint32Array): number {
  const key = Array.from(trimmed(present), (w) => (w >>> 0).toString(36)).join(",");
  let id = layouts.get(key);
  if (id === undefined) {
    id = layouts.size;
    layouts.set(key, id);
  }
  return id;
}

/** A typed array's bytes as a string, prefixed with its length: an exact, unambiguous part of a key. */
function bytesKey(a: ArrayBufferView): string {
  return `${a.byteLength}:${Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("latin1")}`;
}

/** JSON of a value with bigints and byte arrays (VM state, machine pins) as text. */
const jsonKey = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) =>
    typeof x === "bigint" ? `${x}n` : x instanceof Uint8Array ? Buffer.from(x).toString("hex") : x,
  ) ?? "-";

/**
 * Everything a rule reads of one class to decide a level (evaluate.ts and the rule files): features,
 * target, register set, compared values (wide ones in full), which registers are time-varying, and
 * the facts the value rules and cache rules take. Not which registers are at a "never knew" value
 * (atReset): that counts only for the registers a destination lacks, so checkLevel keys on those bits
 * per host (level-memo.ts).
 */
function classSignature(c: VcpuRequirement): string {
  const wide: string[] = [];
  c.checked.forEach((i, k) => {
    const v = c.cKnown[k] === 1 && c.cLo[k] === 0 && c.cHi[k] === 0 ? c.values.get(i) : undefined;
    if (v instanceof Uint8Array) wide.push(`${i}=${Buffer.from(v).toString("hex")}`);
  });
  return [
    c.features.join(","),
    String(c.target),
    String(c.layout),
    c.vqs?.toString(16),
    String(c.ssbs),
    String(c.caches),
    c.expectedGuestCtr?.toString(16),
    c.resetFrom,
    [...c.sourceServices].map(([id, v]) => `${id.toString(16)}=${v.toString(16)}`).join(","),
    wide.join(","),
    bytesKey(c.checked),
    bytesKey(c.cLo),
    bytesKey(c.cHi),
    bytesKey(c.cKnown),
    bytesKey(trimmed(c.tv)),
  ].join("\u0000");
}

/**
 * Signatures by key. Bounded for long-running services: when full it starts over, and signatures
 * are never reused (a subject compiled before keeps its own, which stays correct, only unshared).
 */
const SIGNATURES_KEPT = 1024;
const signatures = new Map<string, number>();
let nextSignature = 0;

/** The signature of compiled requirements (Requirements.signature). */
function signatureOf(req: Omit<Requirements, "signature">): number {
  const key = [
    req.kind,
    String(req.vcpuCount),
    String(req.pvTime),
    jsonKey(req.vm ? { ipaBits: req.vm.ipaBits, caps: req.vm.caps, attrs: req.vm.attrs } : undefined),
    jsonKey(req.machine),
    ...req.classes.map(classSignature),
  ].join("\u0001");
  let id = signatures.get(key);
  if (id === undefined) {
    if (signatures.size >= SIGNATURES_KEPT) signatures.clear();
    id = nextSignature++;
    signatures.set(key, id);
  }
  return id;
}
