/**
 * Fault injection for testers: wraps any KvmSystem so that the n-th operation, or every operation
 * matching a predicate (op name, register id), fails with a chosen errno.
 *
 * A faulted release (KvmVm/KvmVcpu destroy, KvmSystem close) still releases, then reports the error:
 * they are close(2), and Linux frees the descriptor before close returns an error (fs/open.c close_fd;
 * the Linux backend's libc.ts ignores close errors for that reason). Everything else fails before it
 * reaches the wrapped object.
 */
import { KvmError } from "../errors.js";
import type { ErrnoName } from "../errors.js";
import type { KvmSystem, KvmVcpu, KvmVm } from "../types.js";

export interface FaultOp {
  /** Method name: "getOneReg", "setOneReg", "run", "init", "createVm", ... */
  op: string;
  /** The register id for getOneReg/setOneReg. */
  regId?: bigint;
  /** 1-based count of wrapped operations so far, this one included. */
  seq: number;
}

export interface FaultRule {
  /** Fail the n-th operation (1-based, counted over every wrapped call). */
  nth?: number;
  when?: (op: FaultOp) => boolean;
  errno: ErrnoName;
}

export interface FaultInjector {
  system: KvmSystem;
  /** Operations seen so far. */
  count(): number;
  /** The operations that failed by injection, in order, with their errno. */
  injected(): (FaultOp & { errno: ErrnoName })[];
  /** VMs created through the injector that have not been released (destroy, or the system's close). */
  liveVms(): number;
}

const RELEASES = new Set(["destroy", "close"]);

export function injectFaults(inner: KvmSystem, rules: readonly FaultRule[]): FaultInjector {
  let seq = 0;
  const injected: (FaultOp & { errno: ErrnoName })[] = [];
  const live = new Set<object>();
  const fault = (op: string, args: unknown[]): KvmError | undefined => {
    seq++;
    const regId =
      (op === "getOneReg" || op === "setOneReg") && typeof args[0] === "bigint" ? args[0] : undefined;
    const fo: FaultOp = { op, seq, ...(regId !== undefined ? { regId } : {}) };
    for (const r of rules) {
      if ((r.nth !== undefined && r.nth === seq) || (r.nth === undefined && r.when?.(fo))) {
        injected.push({ ...fo, errno: r.errno });
        return new KvmError(`${op} (injected)`, r.errno);
      }
    }
    return undefined;
  };
  const wrap = <T extends object>(
    obj: T,
    children: Record<string, (x: never) => object>,
    released?: () => void,
  ): T =>
    new Proxy(obj, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          const op = String(prop);
          const err = fault(op, args);
          if (err && !RELEASES.has(op)) throw err;
          const out = (v as (...a: unknown[]) => unknown).apply(target, args);
          if (RELEASES.has(op)) released?.();
          if (err) throw err;
          const child = children[op];
          return child && out && typeof out === "object" ? child(out as never) : out;
        };
      },
    });
  const wrapVcpu = (c: KvmVcpu) => wrap(c, {});
  const wrapVm = (vm: KvmVm) => {
    live.add(vm);
    return wrap(vm, { createVcpu: wrapVcpu as (x: never) => object }, () => live.delete(vm));
  };
  return {
    system: wrap(inner, { createVm: wrapVm as (x: never) => object }, () => live.clear()),
    count: () => seq,
    injected: () => [...injected],
    liveVms: () => live.size,
  };
}
