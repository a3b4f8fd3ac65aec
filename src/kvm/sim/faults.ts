/**
 * Fault injection for testers: wraps any KvmSystem so that the n-th operation, or every operation
 * matching a predicate (op name, register id), fails with a chosen errno.
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
}

export function injectFaults(inner: KvmSystem, rules: readonly FaultRule[]): FaultInjector {
  let seq = 0;
  const check = (op: string, args: unknown[]) => {
    seq++;
    const regId =
      (op === "getOneReg" || op === "setOneReg") && typeof args[0] === "bigint" ? args[0] : undefined;
    const fo: FaultOp = { op, seq, ...(regId !== undefined ? { regId } : {}) };
    for (const r of rules) {
      if ((r.nth !== undefined && r.nth === seq) || (r.nth === undefined && r.when?.(fo))) {
        throw new KvmError(`${op} (injected)`, r.errno);
      }
    }
  };
  const wrap = <T extends object>(obj: T, children: Record<string, (x: never) => object>): T =>
    new Proxy(obj, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv) as unknown;
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          check(String(prop), args);
          const out = (v as (...a: unknown[]) => unknown).apply(target, args);
          const child = children[String(prop)];
          return child && out && typeof out === "object" ? child(out as never) : out;
        };
      },
    });
  const wrapVcpu = (c: KvmVcpu) => wrap(c, {});
  const wrapVm = (vm: KvmVm) => wrap(vm, { createVcpu: wrapVcpu as (x: never) => object });
  return { system: wrap(inner, { createVm: wrapVm as (x: never) => object }), count: () => seq };
}
