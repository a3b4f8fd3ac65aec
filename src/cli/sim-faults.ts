/**
 * Fault injection on the simulator from the command line (kvm/sim/faults.ts), for testers: with
 * GUESTABI_SIM_FAULTS=SPEC every simulated host a command opens (`--sim`, `--from`, `--to`) fails the
 * KVM operations SPEC names. SPEC is comma-separated `TARGET:ERRNO`; TARGET is N (the host's N-th
 * operation, 1-based), OP (every call of the method OP, e.g. destroy, setOneReg, createVcpu) or OP#N
 * (its N-th call). With GUESTABI_SIM_FAULTS_REPORT=FILE, each such host appends one JSON line to FILE
 * when the command is done with it: the operations it saw, the faults it injected, and the VMs still
 * alive (a failed restore must leave none).
 */
import fs from "node:fs";
import { ERRNO } from "../kvm/index.js";
import type { KnownErrnoName, KvmSystem } from "../kvm/index.js";
import { injectFaults } from "../kvm/sim/index.js";
import type { FaultRule } from "../kvm/sim/index.js";
import { UsageError } from "./run-command.js";

/** Parses SPEC (see above); UsageError naming the bad rule. */
export function parseFaultSpec(spec: string): FaultRule[] {
  return spec.split(",").map((rule) => {
    const m = /^(?:(\d+)|([A-Za-z]+)(?:#(\d+))?):(E[A-Z0-9]+)$/.exec(rule.trim());
    const errno = m?.[4];
    const n = Number(m?.[1] ?? m?.[3] ?? 0);
    if (!m || !errno || !Object.hasOwn(ERRNO, errno) || ((m[1] ?? m[3]) !== undefined && n < 1))
      throw new UsageError(
        `bad GUESTABI_SIM_FAULTS rule '${rule}' (N:ERRNO, OP:ERRNO or OP#N:ERRNO, like 12:EIO or destroy:EIO)`,
      );
    const e = errno as KnownErrnoName;
    const op = m[2];
    if (op === undefined) return { nth: n, errno: e };
    if (m[3] === undefined) return { when: (o) => o.op === op, errno: e };
    let calls = 0;
    return { when: (o) => o.op === op && ++calls === n, errno: e };
  });
}

/** `system` with the faults of GUESTABI_SIM_FAULTS injected (itself when the variable is unset or empty). */
export function withSimFaults(system: KvmSystem, env: NodeJS.ProcessEnv = process.env): KvmSystem {
  const spec = env["GUESTABI_SIM_FAULTS"];
  if (!spec) return system;
  const injector = injectFaults(system, parseFaultSpec(spec));
  const report = env["GUESTABI_SIM_FAULTS_REPORT"];
  if (!report) return injector.system;
  return new Proxy(injector.system, {
    get(target, prop, recv) {
      if (prop !== "close") return Reflect.get(target, prop, recv) as unknown;
      return () => {
        const line = {
          operations: injector.count(),
          injected: injector.injected().map((f) => ({ seq: f.seq, op: f.op, errno: f.errno })),
          liveVms: injector.liveVms(),
        };
        try {
          target.close();
        } finally {
          fs.appendFileSync(report, JSON.stringify(line) + "\n");
        }
      };
    },
  });
}
