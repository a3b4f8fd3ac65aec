/**
 * Tables that compare host profiles: registers listed, firmware registers at reset, the PSCI versions
 * KVM accepts, the writable ID-register fields, and (from restore trials) which kernel can take the
 * state saved on which. `guestabi report` prints them; README.md's lab section is this, in Markdown,
 * over the committed lab/profiles.
 */
import { FW_REGS, fwRegByIndex, parseRegName, sysregByEncoding } from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { decodeId } from "../regs/index.js";
import { kernelVersion } from "../formats/profile.js";
import type { ConfigProfile, HostProfile } from "../formats/profile.js";
import type { RestoreTrialDoc } from "../formats/restore-trial.js";

export interface ReportTable {
  title: string;
  note: string;
  headers: string[];
  rows: string[][];
}

interface KernelOf {
  generation: string | null;
  release: string;
}
/** A kernel's name in the tables: its generation, or its release when it is of no modelled generation. */
const kernelName = (k: KernelOf) => k.generation ?? k.release;
const labelOf = (p: KernelOf & { cpuLabel: string | null }) => `${kernelName(p)}/${p.cpuLabel ?? "?"}`;
/** Oldest kernel line first (6.12 < 6.18 < 7.2); releases that do not parse last. */
function versionRank(release: string): number {
  const v = kernelVersion(release);
  return v ? v[0] * 10000 + v[1] : Number.MAX_SAFE_INTEGER;
}

function sortProfiles(profiles: HostProfile[], cpuOrder: string[]): HostProfile[] {
  const cpuRank = (c: string | null) => (c === null ? 99 : cpuOrder.indexOf(c));
  return [...profiles].sort(
    (a, b) =>
      versionRank(a.host.release) - versionRank(b.host.release) ||
      cpuRank(a.host.cpuLabel) - cpuRank(b.host.cpuLabel),
  );
}

/**
 * One row per profile, collapsed to one row per kernel where every CPU model gives the same cells
 * (what a kernel decides alone shows once; what depends on the CPU keeps its rows).
 */
function rowsByKernel(profiles: HostProfile[], cells: (p: HostProfile) => string[]): string[][] {
  const out: string[][] = [];
  for (const gen of [...new Set(profiles.map((p) => kernelName(p.host)))]) {
    const group = profiles.filter((p) => kernelName(p.host) === gen);
    const rows = group.map(cells);
    if (group.length > 1 && rows.every((r) => r.join("\u0000") === rows[0]!.join("\u0000")))
      out.push([`${gen} (all ${group.length} CPU models)`, ...rows[0]!]);
    else group.forEach((p, i) => out.push([labelOf({ ...p.host }), ...rows[i]!]));
  }
  return out;
}

const configNamed = (p: HostProfile, name: string) => p.configs.find((c) => c.name === name);
const reading = (c: ConfigProfile | undefined, id: RegId) => c?.reset?.find(([r]) => r === id)?.[1];

function psciName(v: bigint): string {
  return `${v >> 16n}.${v & 0xffffn}`;
}

function fwCell(id: RegId, v: ReturnType<typeof reading>): string {
  if (v === undefined) return "—";
  if (typeof v !== "bigint") return typeof v === "string" ? v : "?";
  const d = decodeId(id);
  if (d.class === "fw" && d.index === 0) return psciName(v);
  if (d.class === "fw") {
    const def = fwRegByIndex("fw", d.index);
    const flags = (def?.bits ?? []).filter((b) => (v >> BigInt(b.bit)) & 1n);
    const level = v & ~flags.reduce((m, b) => m | (1n << BigInt(b.bit)), 0n);
    const name =
      def?.values?.find((x) => x.value === level)?.name.replace(/^.*_WORKAROUND_\d_/, "") ??
      `0x${level.toString(16)}`;
    return [name, ...flags.map((f) => f.name.replace(/^.*_WORKAROUND_\d_/, ""))].join("+");
  }
  return "0x" + v.toString(16);
}

const FW_COLUMNS = FW_REGS.map((r) => ({
  id: parseRegName(r.name),
  header: r.name.replace(/^KVM_REG_ARM_(SMCCC_ARCH_)?/, ""),
}));

/** Fields whose bits the writable mask covers entirely, by the catalog's layout of the register. */
function writableFields(id: RegId, mask: bigint): string[] {
  const d = decodeId(id);
  const def = d.class === "sysreg" ? sysregByEncoding(d) : undefined;
  if (!def) return [`0x${mask.toString(16)}`];
  return def.fields
    .filter((f) => {
      const bits = ((1n << BigInt(f.msb - f.lsb + 1)) - 1n) << BigInt(f.lsb);
      return (mask & bits) === bits && !f.name.startsWith("RES");
    })
    .map((f) => f.name);
}

/** Writable fields by register name, from the psci-0.2 configuration's writable masks. */
function writableByRegister(p: HostProfile): Map<string, string[]> | string {
  const masks = configNamed(p, "psci-0.2")?.writableMasks;
  if (masks === undefined) return "—";
  if (!Array.isArray(masks)) return `${masks} (no writable ID registers)`;
  const out = new Map<string, string[]>();
  for (const [id, mask] of masks) {
    const d = decodeId(id);
    const name = (d.class === "sysreg" && sysregByEncoding(d)?.name) || `0x${id.toString(16)}`;
    const fields = writableFields(id, mask);
    if (fields.length > 0) out.set(name, fields);
  }
  return out;
}

function writableSummary(p: HostProfile): string[] {
  const w = writableByRegister(p);
  if (typeof w === "string") return [w, "0"];
  return [String(w.size), String([...w.values()].reduce((n, f) => n + f.length, 0))];
}

function acceptedPsci(c: ConfigProfile | undefined): string {
  if (!c?.experiments) return "—";
  const group = c.experiments.find(
    (g) => g.phase === "before-run" && g.trials.some((t) => t.kind === "psci-version"),
  );
  const ok = group?.trials
    .filter((t) => t.kind === "psci-version" && t.result === "ok")
    .map((t) => psciName(t.value));
  return ok && ok.length > 0 ? ok.join(", ") : "none";
}

function restoreCell(summary: Record<string, number>, init: string): string {
  if (init !== "ok") return `init ${init}`;
  const refused = Object.entries(summary)
    .filter(([k]) => k !== "ok")
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${n} ${k}`);
  return refused.length === 0 ? "ok" : refused.join(", ");
}

export function labReport(
  profiles: HostProfile[],
  trials: RestoreTrialDoc[] = [],
  cpuOrder: string[] = [],
): ReportTable[] {
  const sorted = sortProfiles(profiles, cpuOrder);
  const configNames = [
    ...new Set(sorted.flatMap((p) => [...p.configs.map((c) => c.name), ...p.skipped.map((s) => s.name)])),
  ];
  const tables: ReportTable[] = [
    {
      title: "Registers KVM_GET_REG_LIST lists",
      note: "per vCPU configuration; — where the kernel lacks the capability",
      headers: ["kernel / CPU", ...configNames],
      rows: rowsByKernel(sorted, (p) =>
        configNames.map((n) => String(configNamed(p, n)?.reset?.length ?? "—")),
      ),
    },
    {
      title: "Firmware registers at vCPU reset",
      note: "psci-0.2 configuration; — where the register is not listed",
      headers: ["kernel / CPU", ...FW_COLUMNS.map((c) => c.header)],
      rows: rowsByKernel(sorted, (p) =>
        FW_COLUMNS.map((c) => fwCell(c.id, reading(configNamed(p, "psci-0.2"), c.id))),
      ),
    },
    {
      title: "PSCI versions KVM_SET_ONE_REG accepts",
      note: "before the first run, with and without the PSCI_0_2 vCPU feature",
      headers: ["kernel / CPU", "psci-0.2", "psci-0.1"],
      rows: rowsByKernel(sorted, (p) => [
        acceptedPsci(configNamed(p, "psci-0.2")),
        acceptedPsci(configNamed(p, "psci-0.1")),
      ]),
    },
    {
      title: "Writable ID registers",
      note: "KVM_ARM_GET_REG_WRITABLE_MASKS (6.7+): ID registers with a writable field, and the fields in all",
      headers: ["kernel / CPU", "registers", "fields"],
      rows: rowsByKernel(sorted, writableSummary),
    },
  ];
  tables.push(writableByRegisterTable(sorted), machineTable(sorted));
  const generations = [...new Set(sorted.map((p) => kernelName(p.host)))];
  const cpus = [...new Set(trials.map((t) => t.host.cpuLabel ?? "?"))].sort(
    (a, b) => cpuOrder.indexOf(a) - cpuOrder.indexOf(b),
  );
  for (const cpu of cpus) {
    const docs = trials.filter((t) => (t.host.cpuLabel ?? "?") === cpu);
    const targets = generations.filter((g) => docs.some((d) => kernelName(d.host) === g));
    const sources = generations.filter((g) =>
      docs.some((d) => d.trials.some((t) => kernelName(t.from) === g)),
    );
    tables.push({
      title: `Cross-kernel restore on ${cpu}`,
      note: "every register a vCPU saved after running on the row's kernel, set with KVM_SET_ONE_REG on the column's kernel",
      headers: ["saved on \\ restored on", ...targets],
      rows: sources.map((src) => [
        src,
        ...targets.map((dst) => {
          const trial = docs
            .find((d) => kernelName(d.host) === dst)
            ?.trials.find((t) => kernelName(t.from) === src);
          return trial ? restoreCell(trial.summary, trial.init) : "—";
        }),
      ]),
    });
  }
  return tables;
}

const hexOr = (v: bigint | string | undefined): string =>
  v === undefined ? "—" : typeof v === "bigint" ? "0x" + v.toString(16) : v;

/** The values a trial list accepted ("ok"), as shown by `label`. */
const acceptedOf = (trials: readonly [number, string][] | undefined, label: (v: number) => string): string =>
  trials
    ? trials
        .filter(([, r]) => r === "ok")
        .map(([v]) => label(v))
        .join(", ") || "none"
    : "—";

/** The machine a VMM builds (configs[].machine): what each kernel shows and lets userspace select. */
function machineTable(profiles: HostProfile[]): ReportTable {
  return {
    title: "The vGICv3, ITS and PMU",
    note: "the configurations psci-0.2 and, for the PMU, psci-0.2+pmu, with a vGICv3 of 128 interrupts and an ITS as Firecracker builds it; registers as userspace reads them after CTRL_INIT; accepted: a write that KVM took and reads back",
    headers: [
      "kernel / CPU",
      "GICD_IIDR",
      "IIDR revisions accepted",
      "IIDR before CTRL_INIT",
      "GICR_CTLR",
      "ITS ABIs",
      "GIC field after a write of 0",
      "PMU attributes",
      "SET_NR_COUNTERS",
      "SMCCC filter",
      "counter offset",
    ],
    rows: rowsByKernel(profiles, (p) => {
      const m = configNamed(p, "psci-0.2")?.machine;
      const pmu = configNamed(p, "psci-0.2+pmu")?.machine;
      const reg = (name: string) => hexOr(m?.regs?.find(([n]) => n === name)?.[1]);
      const gic = m?.gicFieldAfterRun;
      return [
        reg("GICD_IIDR"),
        acceptedOf(m?.iidrWrites, (v) => String((v >> 12) & 0xf)),
        hexOr(m?.iidrBeforeInit),
        reg("GICR_CTLR"),
        acceptedOf(m?.itsIidrWrites, (v) => String((v >> 12) & 0xf)),
        typeof gic === "bigint" ? `GIC = ${(gic >> 24n) & 0xfn}` : (gic ?? "—"),
        pmu?.pmuAttrs
          ? pmu.pmuAttrs
              .filter(([, has]) => has === true)
              .map(([a]) => a)
              .join(", ")
          : "—",
        pmu?.nrCountersWrites?.map(([n, r]) => `${n}: ${r}`).join(", ") ?? "—",
        String(p.kvm?.smcccFilter ?? "—"),
        p.kvm?.counterOffset ?? "—",
      ];
    }),
  };
}

/** A kernel the lab measured, as lab/run.mjs records it (lab/profiles/kernels/<name>.json). */
export interface LabKernel {
  /** The lab's name for it (lab/lab-kernels.json): "6.12", "6.18-bpo", "7.3". */
  name: string;
  suite: string;
  package: string;
  version: string;
  /** uname -r, as the kernel's profiles record it. */
  release: string;
}

/** Which kernels the lab measured: where Debian ships each, its release, and the CPU models probed on it. */
export function labKernelsTable(
  kernels: LabKernel[],
  profiles: HostProfile[],
  cpuOrder: string[] = [],
): ReportTable {
  return {
    title: "Kernels the lab measured",
    note: "Debian's arm64 kernels; simulator: the generation its profiles were compared with, or none (measured only)",
    headers: [
      "kernel",
      "Debian suite",
      "package",
      "version",
      "release (uname -r)",
      "simulator",
      "CPU models",
    ],
    rows: [...kernels]
      .sort((a, b) => versionRank(a.release) - versionRank(b.release))
      .map((k) => {
        const measured = sortProfiles(
          profiles.filter((p) => p.host.release === k.release),
          cpuOrder,
        );
        const simulator = [...new Set(measured.map((p) => p.host.generation ?? "none (measured only)"))];
        return [
          k.name,
          k.suite,
          k.package,
          k.version,
          k.release,
          simulator.join(", ") || "—",
          measured.map((p) => p.host.cpuLabel ?? "?").join(", ") || "none",
        ];
      }),
  };
}

/** Per ID register, how many fields each kernel lets userspace write (the most over its CPU models). */
function writableByRegisterTable(profiles: HostProfile[]): ReportTable {
  const perKernel = new Map<string, Map<string, number>>();
  for (const p of profiles) {
    const w = writableByRegister(p);
    if (typeof w === "string") continue;
    const gen = kernelName(p.host);
    const counts = perKernel.get(gen) ?? new Map<string, number>();
    for (const [reg, fields] of w) counts.set(reg, Math.max(counts.get(reg) ?? 0, fields.length));
    perKernel.set(gen, counts);
  }
  const kernels = [...perKernel.keys()];
  const registers = [...new Set(kernels.flatMap((k) => [...perKernel.get(k)!.keys()]))];
  return {
    title: "Writable fields per ID register",
    note: "the most fields any CPU model lets userspace write, per kernel with writable ID registers",
    headers: ["register", ...kernels],
    rows: registers.map((r) => [r, ...kernels.map((k) => String(perKernel.get(k)!.get(r) ?? "—"))]),
  };
}

const escapeCell = (s: string) => s.replace(/\|/g, "\\|");

export function renderMarkdown(tables: ReportTable[]): string {
  return tables
    .map((t) =>
      [
        `#### ${t.title}`,
        "",
        `${t.note[0]!.toUpperCase()}${t.note.slice(1)}.`,
        "",
        `| ${t.headers.map(escapeCell).join(" | ")} |`,
        `|${t.headers.map(() => "---").join("|")}|`,
        ...t.rows.map((r) => `| ${r.map(escapeCell).join(" | ")} |`),
      ].join("\n"),
    )
    .join("\n\n");
}
