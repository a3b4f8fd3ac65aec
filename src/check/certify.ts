/**
 * `guestabi certify SNAPSHOT|TEMPLATE --hosts PROFILE...`: which hosts can run a VM or template, and
 * why the others cannot, with the reasons grouped: one group per (register, field) problem, listing
 * the hosts it blocks. The subject is compiled once; each host is checked with checkAbi's rules.
 */
import type { CheckReport, Evidence, Verdict } from "./check.js";
import { EVIDENCE_LEVELS, checkCompiled } from "./check.js";
import type { RestorePolicy } from "./restore-policy.js";
import type { HostProfile } from "../formats/profile.js";
import type { Snapshot } from "../formats/snapshot.js";
import type { AbiTemplate } from "../formats/template.js";
import { compileHost } from "./host.js";
import { compileSubject } from "./requirements.js";

export interface CertifyGroup {
  register: string;
  id: string;
  field?: string;
  kind?: string;
  /** The hosts this problem blocks. */
  hosts: string[];
  /** The distinct reasons (hosts differ in values, so in wording). */
  reasons: string[];
  /** The evidence of its verdicts, each level once (measured, inferred, unknown order). */
  evidence: Evidence[];
}

export interface CertifyResult {
  subject: string;
  /** Hosts that can run it (no incompatible verdict), in the given order. */
  runnable: string[];
  /** Hosts that cannot, each with its incompatible verdicts. */
  blocked: { host: string; verdicts: Verdict[] }[];
  /** The blocking problems, most hosts first. */
  groups: CertifyGroup[];
  /** Each host's full check. */
  reports: CheckReport[];
}

export interface CertifyOptions {
  /** How each host is named (default: release and CPU label). */
  names?: readonly string[];
  sourceProfile?: HostProfile;
  /** The VMM that restores it (default: guestabi's own restore). */
  vmm?: RestorePolicy;
}

export function certify(
  subject: Snapshot | AbiTemplate,
  hosts: readonly HostProfile[],
  opts: CertifyOptions = {},
): CertifyResult {
  const req = compileSubject(subject, opts.sourceProfile ? { sourceProfile: opts.sourceProfile } : {});
  const reports = hosts.map((p, k) => checkCompiled(req, compileHost(p, opts.names?.[k], opts.vmm)));
  const blocked = reports
    .filter((r) => !r.compatible)
    .map((r) => ({ host: r.host, verdicts: r.verdicts.filter((v) => v.level === "incompatible") }));
  const groups = new Map<string, CertifyGroup>();
  for (const b of blocked)
    for (const v of b.verdicts) {
      const key = `${v.register}\u0000${v.id}\u0000${v.field ?? ""}`;
      let g = groups.get(key);
      if (!g) {
        g = {
          register: v.register,
          id: v.id,
          ...(v.field !== undefined ? { field: v.field } : {}),
          ...(v.kind !== undefined ? { kind: v.kind } : {}),
          hosts: [],
          reasons: [],
          evidence: [],
        };
        groups.set(key, g);
      }
      if (!g.hosts.includes(b.host)) g.hosts.push(b.host);
      if (!g.reasons.includes(v.reason)) g.reasons.push(v.reason);
      if (!g.evidence.includes(v.evidence))
        g.evidence = EVIDENCE_LEVELS.filter((e) => e === v.evidence || g.evidence.includes(e));
    }
  return {
    subject: req.label,
    runnable: reports.filter((r) => r.compatible).map((r) => r.host),
    blocked,
    groups: [...groups.values()].sort((a, b) => b.hosts.length - a.hosts.length),
    reports,
  };
}
