/**
 * `export qemu`: the `-cpu host,...` options with which one QEMU version starts, on every listed host, a
 * VM whose guest ABI is an ABI template, and loads such a VM migrated from any other listed host; or,
 * when no option of that version can, the registers and features that stand in the way.
 *
 * What QEMU can and cannot set (qemu.ts has the facts and their sources):
 * - vCPU features: -cpu host requests PSCI_0_2 whenever KVM offers it (11.1: not with
 *   kvm-psci-version=0.1), PMU_V3, SVE and pointer auth whenever the host has them; `pmu=off`,
 *   `sve=off`, `pauth=off` drop them (the pmu property exists only on a host with a PMU). SVE vector
 *   lengths: `sve<N>=on`, and KVM enables every length the host supports below the largest.
 * - PSCI_VERSION: `kvm-psci-version` (11.1 only), written when the vCPU is created.
 * - ID registers, CCSIDR, the SMCCC workaround levels and the hypercall bitmaps: no option in any of
 *   the three versions; a VM gets its host's KVM defaults, so every host's default must equal the
 *   template's value.
 * - Register lists: a VM's stream carries its source host's whole list (qemu.ts qemuIncoming plays each
 *   ordered pair of hosts): 7.2/10.0 refuse a longer list and a register the destination lacks below
 *   its last one; 11.1 refuses an unknown register unless tolerated, and lets the last one decide.
 */
import type { RegId } from "../regs/index.js";
import { formatId, nameOf } from "../regs/index.js";
import { FW_REGS, VCPU_FEATURES } from "../kvm/index.js";
import type { HostProfile } from "../formats/profile.js";
import type { AbiTemplate } from "../formats/template.js";
import { ccsidrId } from "../formats/template.js";
import { capValue, featureName } from "../check/config-view.js";
import type { CompiledConfig } from "../check/host.js";
import { compileHost, hostConfig, hostLabel } from "../check/host.js";
import { REGISTRY, hex } from "../check/registry.js";
import { vqText } from "../check/sve-rules.js";
import type { IncomingRegister, QemuEvidence, QemuFacts, QemuVersion } from "./qemu.js";
import { QEMU_PREFIX, hasProperty, inCpregList, qemuFacts, qemuIncoming, toleranceOf } from "./qemu.js";

/** One `-cpu host` property the export sets. */
export interface QemuOption {
  property: string;
  value: string;
  why: string;
  /** What the property's existence and effect rest on (never a run of QEMU). */
  evidence: QemuEvidence;
}

/** A register (or a vCPU feature, register "KVM_ARM_VCPU_INIT") no option of the version can fix. */
export interface QemuBlocker {
  register: string;
  /** "0x" + 16 hex digits; "" for features and the count. */
  id: string;
  /** The hosts, or "source -> destination" pairs, it concerns. */
  hosts: string[];
  reason: string;
}

export interface QemuExport {
  version: QemuVersion;
  label: string;
  /** Every listed host starts and loads a VM of the template with `args`. */
  ok: boolean;
  /** The -cpu value ("host,kvm-psci-version=1.1,pmu=off") and the arguments (["-cpu", cpu]). */
  cpu: string;
  args: string[];
  options: QemuOption[];
  blocking: QemuBlocker[];
  /** What each host shows that does not block: registers kept at reset, dropped unseen, ... */
  hosts: { host: string; notes: string[] }[];
  /** What these answers rest on that was not run on a real QEMU. */
  unverified: string[];
}

export interface ExportQemuOptions {
  /** How each host is named (default: release and CPU label, numbered where two are alike). */
  names?: readonly string[];
}

interface Host {
  name: string;
  profile: HostProfile;
  cfg: CompiledConfig | null;
  notes: string[];
}

const PMU = VCPU_FEATURES.PMU_V3;
const SVE = VCPU_FEATURES.SVE;
const PTRAUTH = [VCPU_FEATURES.PTRAUTH_ADDRESS, VCPU_FEATURES.PTRAUTH_GENERIC];
/** vCPU features no -cpu option of these versions requests. */
const NOT_REQUESTED = [VCPU_FEATURES.EL1_32BIT, VCPU_FEATURES.HAS_EL2, VCPU_FEATURES.HAS_EL2_E2H0];

const psciText = (v: bigint | number): string => `${Number(v) >>> 16}.${Number(v) & 0xffff}`;
const regName = (id: RegId): string => nameOf(id).name;

/** Host names: the given ones, else the profile's label, "#k" added where two are alike. */
function hostNames(hosts: readonly HostProfile[], given?: readonly string[]): string[] {
  const base = hosts.map((p, k) => given?.[k] ?? hostLabel(p));
  return base.map((n, k) => (base.filter((m) => m === n).length > 1 ? `${n} #${k + 1}` : n));
}

/** Blockers gathered by register and reason, their hosts merged. */
class Blockers {
  readonly list: QemuBlocker[] = [];
  add(register: string, id: string, host: string, reason: string): void {
    const b = this.list.find((x) => x.register === register && x.reason === reason);
    if (b) {
      if (!b.hosts.includes(host)) b.hosts.push(host);
    } else this.list.push({ register, id, hosts: [host], reason });
  }
}

/**
 * The options of QEMU `version` (default: the newest) that make every host load a VM of `template`,
 * or the verdict that none can, from the hosts' profiles (each configuration's register list and reset
 * values for the template's vCPU features).
 */
export function exportQemu(
  template: AbiTemplate,
  hosts: readonly HostProfile[],
  version?: string,
  opts: ExportQemuOptions = {},
): QemuExport {
  const facts = qemuFacts(version);
  if (hosts.length === 0) throw new RangeError("export qemu needs at least one host profile");
  const names = hostNames(hosts, opts.names);
  const hs: Host[] = hosts.map((profile, k) => ({
    name: names[k]!,
    profile,
    cfg: hostConfig(compileHost(profile, names[k]), template.features),
    notes: [],
  }));
  const blockers = new Blockers();
  const options: QemuOption[] = [];
  const option = (property: string, value: string, why: string) =>
    options.push({ property, value, why, evidence: facts.evidence });

  for (const h of hs)
    if (!h.cfg)
      blockers.add(
        "KVM_ARM_VCPU_INIT",
        "",
        h.name,
        `no probed configuration initialises with ${template.features.map(featureName).join(", ")}: unknown`,
      );

  const psciPin = features(facts, template, hs, blockers, option) ?? psciToPin(facts, template, hs);
  values(facts, template, hs, blockers, psciPin);
  if (psciPin !== undefined) pinPsci(facts, hs, blockers, option, psciPin);
  registerLists(facts, hs, blockers, psciPin);

  const unverified = [
    `QEMU ${facts.version}'s rules were read from Debian's ${facts.debian.package} ${facts.evidence === "binary" ? "arm64 binary (its source was not available)" : "source"} and held to real migrations in the lab (lab/qemu: kernels 5.10, 6.1, 6.12, 7.2 on cortex-a72 and neoverse-n1); other kernels and CPUs follow from the rules, not from a run`,
    "KVM_REG_ARM64_SVE_VLS is not in the migration stream: every host must run QEMU with the same sve<N> options",
  ];
  if (template.machine)
    unverified.push(
      "the template's machine section (vGIC, ITS, PMU counters, counter offset, SMCCC filter) is not compared with QEMU's virt machine",
    );
  const cpu = ["host", ...options.map((o) => `${o.property}=${o.value}`)].join(",");
  return {
    version: facts.version,
    label: facts.policy.label,
    ok: blockers.list.length === 0,
    cpu,
    args: ["-cpu", cpu],
    options,
    blocking: blockers.list,
    hosts: hs.map((h) => ({ host: h.name, notes: h.notes })),
    unverified,
  };
}

// ---- vCPU features ----------------------------------------------------------------------------------

/** KVM_CHECK_EXTENSION of a host, or undefined where the profile has no answers (imported evidence). */
const cap = (h: Host, name: string): boolean | undefined =>
  h.profile.kvm ? capValue(h.profile, name) > 0 : undefined;

/**
 * The feature options (kvm_arch_init_vcpu's requests, arm_cpu_post_init's pmu property,
 * arm_cpu_sve_finalize, arm_cpu_pauth_finalize); returns the PSCI version to pin with
 * kvm-psci-version when the template has no PSCI_0_2 (0.1), else undefined.
 */
function features(
  facts: QemuFacts,
  t: AbiTemplate,
  hs: readonly Host[],
  blockers: Blockers,
  option: (p: string, v: string, why: string) => void,
): bigint | undefined {
  const has = (f: number) => t.features.includes(f);
  const feature = (f: number, host: string, reason: string) =>
    blockers.add("KVM_ARM_VCPU_INIT", "", host, `${featureName(f)}: ${reason}`);
  for (const f of NOT_REQUESTED)
    if (has(f)) for (const h of hs) feature(f, h.name, `no -cpu option of ${facts.policy.label} requests it`);

  // PMU_V3: requested wherever KVM_CAP_ARM_PMU_V3; the pmu property exists only there.
  const pmu = hs.map((h) => cap(h, "KVM_CAP_ARM_PMU_V3"));
  if (has(PMU)) {
    hs.forEach((h, k) => {
      if (pmu[k] === false) feature(PMU, h.name, "KVM_CAP_ARM_PMU_V3 is 0: QEMU cannot request it here");
    });
  } else if (pmu.some((p) => p !== false)) {
    if (pmu.every((p) => p === true))
      option("pmu", "off", "the template has no PMU_V3; -cpu host requests it wherever KVM has a PMU");
    else
      hs.forEach((h, k) => {
        if (pmu[k] !== false)
          feature(
            PMU,
            h.name,
            pmu[k] === undefined
              ? "whether KVM has a PMU here was not measured"
              : "requested here; pmu=off would drop it, but hosts without a PMU have no pmu property (arm_cpu_post_init) and QEMU refuses it there",
          );
      });
  }

  // SVE: every template length on, and nothing else the host supports below the largest.
  const sveCap = hs.map((h) => cap(h, "KVM_CAP_ARM_SVE"));
  if (has(SVE)) {
    const vqs = t.sveVqs ?? [];
    const want = vqs.reduce((m, q) => m | (1n << BigInt(q - 1)), 0n);
    const below = (1n << BigInt(Math.max(0, ...vqs))) - 1n;
    hs.forEach((h, k) => {
      if (sveCap[k] === false)
        return feature(SVE, h.name, "KVM_CAP_ARM_SVE is 0: QEMU cannot request it here");
      const got = h.cfg?.vls === undefined ? undefined : h.cfg.vls & below;
      if (got === undefined) return feature(SVE, h.name, "the host's vector lengths were not measured");
      if (got !== want || (h.cfg!.vls! & want) !== want)
        feature(
          SVE,
          h.name,
          `with ${vqs.map((q) => `sve${q * 128}=on`).join(",")} QEMU gives ${vqText(got)} here (the host's lengths up to the largest, arm_cpu_sve_finalize), not ${vqText(want)}`,
        );
    });
    for (const q of vqs) option(`sve${q * 128}`, "on", `SVE vector length ${q * 128} bits`);
  } else if (sveCap.some((s) => s !== false))
    option("sve", "off", "the template has no SVE; -cpu host requests it wherever the host has it");

  // Pointer auth: both features or neither (the pauth property, from the host's ID registers).
  const pauth = hs.map((h) => {
    const a = cap(h, "KVM_CAP_ARM_PTRAUTH_ADDRESS");
    const g = cap(h, "KVM_CAP_ARM_PTRAUTH_GENERIC");
    return a === undefined || g === undefined ? undefined : a && g;
  });
  const wantPauth = PTRAUTH.filter(has);
  if (wantPauth.length === 1)
    for (const h of hs)
      feature(wantPauth[0]!, h.name, "QEMU requests PTRAUTH_ADDRESS and PTRAUTH_GENERIC together or neither");
  else if (wantPauth.length === 2)
    hs.forEach((h, k) => {
      if (pauth[k] === false)
        feature(
          PTRAUTH[0]!,
          h.name,
          "the host has no pointer auth (KVM_CAP_ARM_PTRAUTH_*): QEMU cannot request it",
        );
    });
  else if (pauth.some((p) => p !== false))
    option(
      "pauth",
      "off",
      "the template has no pointer auth; -cpu host requests it wherever the host has it",
    );

  // PSCI_0_2: always requested where KVM offers it, unless 11.1's kvm-psci-version=0.1.
  if (!has(VCPU_FEATURES.PSCI_0_2)) {
    if (hasProperty(facts, "kvm-psci-version")) return 1n;
    hs.forEach((h) => {
      if (cap(h, "KVM_CAP_ARM_PSCI_0_2") !== false)
        feature(VCPU_FEATURES.PSCI_0_2, h.name, `${facts.policy.label} requests it wherever KVM offers it`);
    });
  }
  return undefined;
}

// ---- register values --------------------------------------------------------------------------------

/** The template's PSCI version, where the version has kvm-psci-version and some host defaults to another. */
function psciToPin(facts: QemuFacts, t: AbiTemplate, hs: readonly Host[]): bigint | undefined {
  const want = t.firmware.get(FW_REGS.PSCI_VERSION);
  if (want === undefined || !hasProperty(facts, "kvm-psci-version")) return undefined;
  const differs = hs.some((h) => {
    const have = h.cfg?.view.reset.get(FW_REGS.PSCI_VERSION);
    return typeof have === "bigint" && have !== want;
  });
  return differs ? want : undefined;
}

/** What a class of register is, for reasons. */
const NO_OPTION: Readonly<Record<string, string>> = {
  id: "-cpu host never writes ID registers",
  demux: "QEMU never writes the cache geometry",
  bitmap: "QEMU never writes the hypercall bitmaps",
  fw: "QEMU never writes the firmware registers",
};

const noOption = (facts: QemuFacts, id: RegId): string =>
  `${NO_OPTION[REGISTRY.checkClass(REGISTRY.intern(id))] ?? "QEMU has no option for it"} (${facts.policy.label})`;

/**
 * Each host's default against the template's value (ID registers, firmware registers, bitmaps,
 * CCSIDR), and the defaults of registers the template leaves open that the hosts disagree on.
 * PSCI_VERSION is left to pinPsci when it is pinned.
 */
function values(
  facts: QemuFacts,
  t: AbiTemplate,
  hs: readonly Host[],
  blockers: Blockers,
  psciPin: bigint | undefined,
): void {
  const wanted = new Map<RegId, bigint>([...t.idRegs, ...t.firmware]);
  for (const [sel, v] of t.ccsidr ?? []) wanted.set(ccsidrId(sel), v);
  for (const h of hs) {
    if (!h.cfg) continue;
    const { ids, reset } = h.cfg.view;
    for (const [id, want] of wanted) {
      if (!ids.includes(id)) {
        h.notes.push(`does not list ${regName(id)}: a VM started here does not have it`);
        continue;
      }
      const have = reset.get(id);
      if (typeof have !== "bigint") {
        blockers.add(regName(id), formatId(id), h.name, `its value here was not measured (${String(have)})`);
        continue;
      }
      if (have === want) continue;
      if (id === FW_REGS.PSCI_VERSION && psciPin !== undefined) continue;
      blockers.add(
        regName(id),
        formatId(id),
        h.name,
        id === FW_REGS.PSCI_VERSION
          ? `the template has PSCI ${psciText(want)}; this host's KVM defaults to ${psciText(have)} and ${facts.policy.label} has no kvm-psci-version`
          : `the template has ${hex(want)}; this host's KVM default is ${hex(have)} and ${noOption(facts, id)}`,
      );
    }
  }
  // Registers the template leaves open: hosts that disagree give VMs different ABIs.
  const open = new Map<RegId, Map<bigint, string[]>>();
  for (const h of hs)
    for (const [id, v] of h.cfg?.view.reset ?? []) {
      const cls = REGISTRY.checkClass(REGISTRY.intern(id));
      if (wanted.has(id) || typeof v !== "bigint" || cls === "state" || cls === "vls") continue;
      const byValue = open.get(id) ?? new Map<bigint, string[]>();
      open.set(id, byValue);
      byValue.set(v, [...(byValue.get(v) ?? []), h.name]);
    }
  for (const [id, byValue] of open) {
    if (byValue.size < 2) continue;
    const seen = [...byValue].map(([v, on]) => `${hex(v)} on ${on.join(", ")}`).join("; ");
    for (const on of byValue.values())
      for (const host of on)
        blockers.add(
          regName(id),
          formatId(id),
          host,
          `the template leaves it open and the hosts' defaults differ (${seen}); ${noOption(facts, id)}`,
        );
  }
}

/** The PSCI version every host's KVM should report: the template's, or 0.1 without PSCI_0_2. */
function pinPsci(
  facts: QemuFacts,
  hs: readonly Host[],
  blockers: Blockers,
  option: (p: string, v: string, why: string) => void,
  pin: bigint,
): void {
  const text = psciText(pin);
  option(
    "kvm-psci-version",
    text,
    `PSCI ${text} on every host (kvm_arch_init_vcpu writes KVM_REG_ARM_PSCI_VERSION)`,
  );
  for (const h of hs) {
    if (!h.cfg || h.cfg.psci.includes(Number(pin))) continue;
    blockers.add(
      regName(FW_REGS.PSCI_VERSION),
      formatId(FW_REGS.PSCI_VERSION),
      h.name,
      `QEMU ${facts.version} stops at startup here: "${QEMU_PREFIX}KVM in this kernel does not support PSCI version ${text}" (kvm_arch_init_vcpu); this host accepts ${h.cfg.psci.map(psciText).join(", ")}${h.cfg.psciFrom === "experiments" ? " (the probe's writes)" : ""}`,
    );
  }
}

// ---- register lists: each ordered pair of hosts -------------------------------------------------------

/** The stream a VM started on `h` carries: its cpreg list with its defaults (PSCI as pinned). */
function streamOf(h: Host, psciPin: bigint | undefined): IncomingRegister[] {
  const out: IncomingRegister[] = [];
  for (const id of h.cfg?.view.ids ?? []) {
    if (!inCpregList(id)) continue;
    const v = h.cfg!.view.reset.get(id);
    out.push({
      id,
      value: id === FW_REGS.PSCI_VERSION && psciPin !== undefined ? psciPin : typeof v === "bigint" ? v : 0n,
    });
  }
  return out;
}

function registerLists(
  facts: QemuFacts,
  hs: readonly Host[],
  blockers: Blockers,
  psciPin: bigint | undefined,
): void {
  for (const s of hs)
    for (const d of hs) {
      if (s === d || !s.cfg || !d.cfg) continue;
      const pair = `${s.name} -> ${d.name}`;
      const stream = streamOf(s, psciPin);
      const r = qemuIncoming(facts.version, stream, { ids: d.cfg.view.ids });
      const names = (ids: readonly RegId[]) => ids.map(regName).join(", ");
      if (r.cause === "count")
        blockers.add(
          "cpreg_vmstate_array_len",
          "",
          pair,
          `the source saves ${stream.length} registers, the destination lists ${d.cfg.view.ids.filter(inCpregList).length}: "${r.stderr[0]}" (vmstate_arm_cpu, get_int32_le)`,
        );
      const refused = r.streamOnly.filter((o) => o.outcome === "refused").map((o) => o.id);
      if (!r.loads)
        for (const id of refused)
          blockers.add(
            regName(id),
            formatId(id),
            pair,
            `the destination does not list it: ${facts.policy.label} refuses the stream (cpu_post_load)`,
          );
      else if (refused.length > 0)
        d.notes.push(
          `from ${s.name}: ${names(refused)} not listed here; ${facts.policy.label} prints "...fail migration" for each and loads all the same (measured in the lab: the load goes on past cpu_post_load): their state is dropped`,
        );
      const tolerated = r.streamOnly.filter((o) => o.outcome === "tolerated").map((o) => o.id);
      if (tolerated.length > 0)
        d.notes.push(
          `from ${s.name}: ${names(tolerated)} dropped, in ${facts.policy.label}'s tolerance list (${tolerated.map((id) => toleranceOf(facts, id)!.why).join("; ")})`,
        );
      const unseen = r.streamOnly.filter((o) => o.outcome === "unexamined").map((o) => o.id);
      if (unseen.length > 0 && r.loads)
        d.notes.push(
          `from ${s.name}: ${names(unseen)} dropped unseen (above this host's last register, cpu_post_load stops there)`,
        );
      if (r.destinationOnly.length > 0 && r.loads)
        d.notes.push(
          `from ${s.name}: ${names(r.destinationOnly)} not in the stream: they keep this host's reset values`,
        );
    }
}

// ---- text -------------------------------------------------------------------------------------------------

const EVIDENCE_TEXT: Readonly<Record<QemuEvidence, string>> = {
  source: "read from its source",
  binary: "read from its binary; the lab ran it with 1.0 (lab/qemu)",
};

/** The export as text: the options (or why none), the blockers, per-host notes, what is not verified. */
export function formatQemuExport(e: QemuExport): string {
  const out: string[] = [];
  if (e.ok) {
    out.push(`${e.label}: ${e.args.join(" ")}`);
    out.push("  every listed host starts and loads a VM of the template with these options");
  } else {
    out.push(`${e.label}: no option makes every listed host load a VM of the template`);
    if (e.options.length > 0) out.push(`  (options that would still be needed: -cpu ${e.cpu})`);
  }
  for (const o of e.options) out.push(`  ${o.property}=${o.value}: ${o.why} [${EVIDENCE_TEXT[o.evidence]}]`);
  if (e.blocking.length > 0) {
    out.push("blocking:");
    for (const b of e.blocking)
      out.push(`  ${b.register}${b.id ? ` (${b.id})` : ""} on ${b.hosts.join(", ")}: ${b.reason}`);
  }
  const noted = e.hosts.filter((h) => h.notes.length > 0);
  if (noted.length > 0) {
    out.push("per host:");
    for (const h of noted) for (const n of h.notes) out.push(`  ${h.host}: ${n}`);
  }
  out.push("not verified on a real QEMU:");
  for (const u of e.unverified) out.push(`  ${u}`);
  return out.join("\n") + "\n";
}
