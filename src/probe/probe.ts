/**
 * `probe(system)`: measures what a host kernel's KVM shows a VMM and returns it as a host profile
 * (profile.ts). Works on any backend of the hypervisor interface (src/kvm/types.ts): the Linux
 * ioctl backend or the simulator, unchanged.
 *
 * Per vCPU configuration (session.ts): set up a vCPU, list its registers (KVM_GET_REG_LIST) and read
 * each twice at reset (the second read exposes time-varying ones), read the writable masks, run the
 * guest probe program (the vCPU's first KVM_RUN), read everything again, then run the write
 * experiments (experiments.ts) on that vCPU ("after-run") and on a fresh one ("before-run").
 *
 * Every VM is destroyed before probe() returns or throws. A failed setup step that a working KVM
 * never refuses (KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_GET_REG_LIST on a ready vCPU) makes probe() throw
 * a ProbeError naming the configuration, the operation and the errno.
 */
import { errnoOf, featureIdRangeEncoding, getRegList, guest } from "../kvm/index.js";
import type { KvmSystem, KvmVcpu, KvmVm, RegValue } from "../kvm/index.js";
import { CAPS, KVM_ARM_VM_SMCCC_CTRL, KVM_ARM_VM_SMCCC_FILTER, KVM_CAP } from "../kvm/index.js";
import { KERNEL_GENERATIONS, sysregId } from "../regs/index.js";
import type { KernelGeneration, RegId } from "../regs/index.js";
import { runExperiments } from "./experiments.js";
import { machineFacts } from "./machine-facts.js";
import type { ConfigProfile, HostFacts, HostProfile } from "../formats/profile.js";
import { PROFILE_FORMAT, PROFILE_VERSION, kernelGeneration } from "../formats/profile.js";
import type { RegReading } from "../formats/schema-parts.js";
import { SAVED_STATE_CONFIG, VCPU_CONFIGS, configByName, destroySession, openSession } from "./session.js";
import type { Session, VcpuConfig } from "./session.js";
import { differsIgnoringTime, markTimeVarying } from "../kvm/rules/time-varying.js";
import { toolVersion } from "../formats/version.js";

export class ProbeError extends Error {
  override name = "ProbeError";
}

export interface ProbeOptions {
  /** What the caller says the CPU is (`--cpu-label`). */
  cpuLabel?: string | null;
  /** Configuration names to probe (default: every one the capabilities allow). */
  configs?: readonly string[];
  /** Facts read from the host (host-facts.ts on Linux); null on the simulator. */
  hostFacts?: HostFacts | null;
  toolVersion?: string;
  /** Start time and a millisecond clock (tests pin them). */
  now?: () => Date;
  clock?: () => number;
  /** One line per step, for a progress display. */
  onProgress?: (line: string) => void;
  /** The guest program (default: the probe program with its default items). */
  program?: guest.ProbeProgram;
}

type Reading = RegValue | string;

const readings = (ids: readonly RegId[], values: readonly Reading[]): RegReading[] =>
  ids.map((id, i): RegReading => [id, values[i]!]);

function readAll(vcpu: KvmVcpu, ids: readonly RegId[]): Reading[] {
  return ids.map((id) => {
    let value: Reading = "";
    const r = errnoOf(() => {
      value = vcpu.getOneReg(id);
    });
    return r === "ok" ? value : r;
  });
}

/** `fn` on a fresh VM: "ok" or its errno. */
function withVm(system: KvmSystem, fn: (vm: KvmVm) => void): string {
  const vm = system.createVm();
  try {
    return errnoOf(() => fn(vm));
  } finally {
    vm.destroy();
  }
}

/** A KVM_CHECK_EXTENSION answer, or the errno. */
function checkCap(fn: () => number): number | string {
  let v = 0;
  const r = errnoOf(() => {
    v = fn();
  });
  return r === "ok" ? v : r;
}

/** Nonzero writable masks of the feature ID range as [register id, mask], or the errno (< 6.7). */
function writableMasks(vm: KvmVm): [RegId, bigint][] | string {
  let masks: bigint[] = [];
  const r = errnoOf(() => {
    masks = vm.getRegWritableMasks();
  });
  if (r !== "ok") return r;
  const out: [RegId, bigint][] = [];
  masks.forEach((m, i) => {
    if (m === 0n) return;
    const e = featureIdRangeEncoding(i);
    out.push([sysregId(e.op0, e.op1, e.crn, e.crm, e.op2), m]);
  });
  return out;
}

function firstRunJson(run: guest.ProbeRun): NonNullable<ConfigProfile["firstRun"]> {
  const r = run.result;
  const end = r.end;
  return {
    exits: run.exits,
    end:
      end.kind === "system-event"
        ? { kind: end.kind, event: end.event, type: end.type, data: end.data }
        : end.kind === "error"
          ? {
              kind: end.kind,
              op: end.op,
              errno: end.errno,
              message: end.message.split("\n")[0]!.slice(0, 512),
            }
          : end,
    completed: r.completed,
    hypercalls: run.hypercalls.length,
    unexpected: r.unexpected.length,
    items: r.items.map((it) => {
      const base = {
        name: it.name,
        outcome: it.outcome,
        ...(it.kind === "call" && it.timeVarying ? { timeVarying: true as const } : {}),
      };
      switch (it.outcome) {
        case "returned":
          return { ...base, x: it.x };
        case "value":
          return { ...base, value: it.value };
        case "exception": {
          const { esr, elr, far, vector, ec } = it.exception;
          return { ...base, exception: { esr, elr, far, vector, ec } };
        }
        case "incomplete":
          return { ...base, stored: it.stored.map((v) => v ?? null) };
        default:
          return base;
      }
    }),
  };
}

interface Context {
  system: KvmSystem;
  program: guest.ProbeProgram;
  /** The caller's own program (ProbeOptions.program), run as given. */
  customProgram: boolean;
  /** The default program with the GIC's load items, built on first use (every vGIC has the same layout). */
  gicProgram?: guest.ProbeProgram;
  writableImpIdRegs: boolean;
  /** KVM_ARM_GET_REG_WRITABLE_MASKS works (6.7+): ID registers take writes. */
  writableIdRegs: boolean;
  generation: KernelGeneration;
  clock: () => number;
  progress: (line: string) => void;
}

/**
 * The guest program for a session: with a vGIC, the default items and the GIC's identification registers
 * read through MMIO as a guest finds them (kvm/guest/gic.ts).
 */
function programFor(ctx: Context, s: Session): guest.ProbeProgram {
  const chip = s.irqchip;
  if (!chip || s.steps.irqchipInit !== "ok" || ctx.customProgram) return ctx.program;
  const frames = {
    dist: chip.layout.dist,
    redist: chip.layout.redist,
    ...(chip.its ? { its: chip.layout.its } : {}),
  };
  return (ctx.gicProgram ??= guest.buildProbeProgram(guest.defaultProbeItems(guest.gicProbeItems(frames))));
}

/** A session that must come up like the configuration's first one did. */
function openReady(ctx: Context, config: VcpuConfig, program?: guest.ProbeProgram): Session {
  const s = openSession(ctx.system, config, program ? { program } : {});
  if (!s.ready) {
    destroySession(s);
    const failed =
      s.steps.init !== "ok"
        ? `KVM_ARM_VCPU_INIT: ${s.steps.init}`
        : `KVM_ARM_VCPU_FINALIZE: ${s.steps.finalize}`;
    throw new ProbeError(`a fresh vCPU failed to set up (${failed}) where the first one did not`);
  }
  return s;
}

function probeConfig(ctx: Context, config: VcpuConfig): ConfigProfile {
  const t0 = ctx.clock();
  let main: Session | undefined;
  try {
    main = openSession(ctx.system, config);
    const out: ConfigProfile = {
      name: config.name,
      features: [...config.features],
      init: main.steps.init,
      ...(main.steps.finalize !== undefined ? { finalize: main.steps.finalize } : {}),
      ...(main.steps.pmuInit !== undefined ? { pmuInit: main.steps.pmuInit } : {}),
      durationMs: 0,
    };
    if (main.steps.gic !== undefined)
      out.machine = machineFacts(
        {
          system: ctx.system,
          config,
          trials:
            config.name === SAVED_STATE_CONFIG ? "gic" : config.features.includes("PMU_V3") ? "pmu" : "none",
          writableIdRegs: ctx.writableIdRegs,
          program: ctx.program,
        },
        main,
      );
    if (!main.ready) {
      ctx.progress(`${config.name}: not set up (${out.finalize ?? out.init})`);
      out.durationMs = Math.round(ctx.clock() - t0);
      return out;
    }
    const { vm, vcpu } = main;
    const ids = getRegList(vcpu);
    const reset = readAll(vcpu, ids);
    const again = readAll(vcpu, ids);
    out.reset = readings(ids, reset);
    out.writableMasks = writableMasks(vm);
    const timeVarying = markTimeVarying(ids, reset, again);
    out.timeVarying = timeVarying;

    const program = programFor(ctx, main);
    const run = guest.runProbeProgram(vm, vcpu, program);
    out.firstRun = firstRunJson(run);
    const idsAfter = getRegList(vcpu);
    const after = readAll(vcpu, idsAfter);
    const afterById = new Map(idsAfter.map((id, i) => [id, after[i]!]));
    const masks = new Map(timeVarying.map((t) => [t.id, t.mask]));
    const listed = new Set(ids);
    const changed: [RegId, bigint | string, bigint | string][] = [];
    ids.forEach((id, i) => {
      const a = reset[i]!;
      const b = afterById.get(id);
      if (b === undefined || !differsIgnoringTime(a, b, masks.get(id))) return;
      // Registers wider than 64 bits (V/SVE) are not touched by the program; record 64-bit ones.
      if (typeof a !== "object" && typeof b !== "object") changed.push([id, a, b]);
    });
    out.afterRun = {
      changed,
      listAdded: idsAfter.filter((id) => !listed.has(id)),
      listRemoved: ids.filter((id) => !afterById.has(id)),
      ...(config.name === SAVED_STATE_CONFIG ? { values: readings(idsAfter, after) } : {}),
    };

    // After-run experiments take over the vCPU that ran; before-run ones get a fresh VM.
    const plan = { ids, generation: ctx.generation };
    const session = main;
    main = undefined;
    const afterExp = runExperiments(
      { ...plan, phase: "after-run", open: () => openReady(ctx, config, program) },
      session,
    );
    const beforeExp = runExperiments(
      {
        ...plan,
        phase: "before-run",
        open: () => openReady(ctx, config),
        ...(ctx.writableImpIdRegs
          ? { openWritable: () => openSession(ctx.system, config, { writableImpIdRegs: true }) }
          : {}),
      },
      openReady(ctx, config),
    );
    out.experiments = [...beforeExp.groups, ...afterExp.groups];
    out.durationMs = Math.round(ctx.clock() - t0);
    ctx.progress(
      `${config.name}: ${ids.length} registers, first run ${run.result.end.kind} after ${run.exits} exits, ` +
        `${beforeExp.trials + afterExp.trials} write trials, ${out.durationMs} ms`,
    );
    return out;
  } catch (e) {
    throw new ProbeError(`probe ${config.name}: ${(e as Error).message.split("\n")[0]}`, { cause: e });
  } finally {
    destroySession(main);
  }
}

/** Probes the host behind `system` (which stays open: the caller closes it). */
export function probe(system: KvmSystem, opts: ProbeOptions = {}): HostProfile {
  const clock = opts.clock ?? (() => performance.now());
  const t0 = clock();
  const probedAt = (opts.now?.() ?? new Date()).toISOString();
  const progress = opts.onProgress ?? (() => undefined);
  const release = system.kernelRelease();
  const generation = kernelGeneration(release);

  const caps: Record<string, [number | string, number | string]> = {};
  let preferredTarget: NonNullable<HostProfile["kvm"]>["preferredTarget"];
  let smcccFilter: boolean | string = false;
  let writableIdRegs: boolean;
  const vm = system.createVm();
  try {
    // kvm_vm_has_attr (6.4+); older kernels refuse the ioctl on a VM fd
    const f = errnoOf(() => {
      smcccFilter = vm.hasDeviceAttr(KVM_ARM_VM_SMCCC_CTRL, KVM_ARM_VM_SMCCC_FILTER);
    });
    if (f !== "ok") smcccFilter = f;
    writableIdRegs = errnoOf(() => vm.getRegWritableMasks()) === "ok";
    for (const cap of CAPS.values())
      caps[cap.name] = [
        checkCap(() => system.checkExtension(cap.number)),
        checkCap(() => vm.checkExtension(cap.number)),
      ];
    let target = { target: 0, features: [] as number[] };
    const r = errnoOf(() => {
      const t = vm.preferredTarget();
      target = { target: t.target, features: [...t.features] };
    });
    preferredTarget = r === "ok" ? target : r;
  } catch (e) {
    throw new ProbeError(`probe: ${(e as Error).message.split("\n")[0]}`, { cause: e });
  } finally {
    vm.destroy();
  }
  const counterOffset = withVm(system, (v) => v.setCounterOffset(0n));
  const capOn = (name: keyof typeof KVM_CAP) => {
    const v = system.checkExtension(KVM_CAP[name]);
    return v > 0;
  };

  const selected: VcpuConfig[] = [];
  const skipped: HostProfile["skipped"] = [];
  for (const name of opts.configs ?? []) {
    const c = configByName(name);
    if (!c)
      throw new ProbeError(
        `unknown configuration '${name}' (known: ${VCPU_CONFIGS.map((k) => k.name).join(", ")})`,
      );
    if (!selected.includes(c)) selected.push(c);
  }
  if (!opts.configs)
    for (const c of VCPU_CONFIGS) {
      const missing = c.needs.filter((n) => !capOn(n));
      if (missing.length === 0) selected.push(c);
      else skipped.push({ name: c.name, why: missing.map((n) => `KVM_CAP_${n} is 0`).join(", ") });
    }

  const ctx: Context = {
    system,
    program: opts.program ?? guest.buildProbeProgram(guest.defaultProbeItems()),
    customProgram: opts.program !== undefined,
    writableImpIdRegs: capOn("ARM_WRITABLE_IMP_ID_REGS"),
    writableIdRegs,
    // An unmodelled kernel gets the newest generation's field trials: the widest set of fields
    // measured (a write the kernel does not know is measured as refused, which is evidence too).
    generation: generation ?? KERNEL_GENERATIONS[KERNEL_GENERATIONS.length - 1]!,
    clock,
    progress,
  };
  progress(`kernel ${release}, ${selected.length} configurations: ${selected.map((c) => c.name).join(", ")}`);
  const configs = selected.map((c) => probeConfig(ctx, c));

  return {
    format: PROFILE_FORMAT,
    version: PROFILE_VERSION,
    tool: { name: "guestabi", version: opts.toolVersion ?? toolVersion() },
    backend: system.backend,
    probedAt,
    durationMs: Math.round(clock() - t0),
    host: {
      release,
      generation,
      cpuLabel: opts.cpuLabel ?? null,
      facts: opts.hostFacts ?? null,
    },
    kvm: {
      apiVersion: system.apiVersion(),
      maxIpaBits: system.checkExtension(KVM_CAP.ARM_VM_IPA_SIZE),
      preferredTarget,
      caps,
      smcccFilter,
      counterOffset,
    },
    configs,
    skipped,
  };
}
