/**
 * A host CPU model learned from what a vCPU's registers read on that host (a register dump such as a
 * Firecracker fingerprint): plain data in, a CpuModel out, so that a user's own host can drive the
 * simulator. The values are KVM's view for the dump's vCPU configuration, used as the CPU's raw values:
 * the host kernel's sanitisation and KVM's rules keep a value they produced unchanged, so the learned model
 * reads back the dump's ID registers on the kernel generation that made it. What KVM hid from that vCPU
 * (a field it cleared or capped) is learned as the guest saw it; what no register shows is assumed, and
 * the result says which.
 */
import { sysregByEncoding } from "../../regs/catalog.js";
import { decodeId, sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import { FW_REGS } from "../uapi.js";
import { TF_A_FIRMWARE } from "./cpus.js";
import type { CpuModel, HostFirmware } from "./cpus.js";
import { getField } from "./descs.js";
import { CSSELR_MAX } from "./reset.js";

/** A learned model and what the registers could not tell (each a few words; the model assumes these). */
export interface LearnedCpuModel {
  cpu: CpuModel;
  assumed: string[];
}

const MIDR_EL1 = sysregId(3, 0, 0, 0, 0);
const REVIDR_EL1 = sysregId(3, 0, 0, 0, 6);
const AIDR_EL1 = sysregId(3, 1, 0, 0, 7);
const CLIDR_EL1 = sysregId(3, 1, 0, 0, 1);
const CTR_EL0 = sysregId(3, 3, 0, 0, 1);
const PMCR_EL0 = sysregId(3, 3, 9, 12, 0);

/** DCZID_EL0 is no KVM register: 64-byte blocks (BS 4), what every modelled Arm server core has. */
const ASSUMED_DCZID = 4n;
/** A server's online CPUs (KVM_CAP_NR_VCPUS): no register shows them. */
const ASSUMED_ONLINE_CPUS = 64;
/** ARMV8_PMU_PMCR_MASK: the low byte of PMCR_EL0 is KVM's reset pattern, not the host's (reset_pmcr). */
const PMCR_KVM_BITS = 0xffn;

/**
 * The host firmware's SMCCC_ARCH_FEATURES answers that lead KVM to the dump's workaround levels
 * (get_kernel_wa_level over proton-pack.c's states; TF-A's conduit and versions otherwise):
 * WORKAROUND_1/_3 levels NOT_AVAIL 0, AVAIL 1, NOT_REQUIRED 2 come from a firmware that answers
 * NOT_SUPPORTED (-1), SUCCESS (0) or UNAFFECTED (1); WORKAROUND_2 NOT_REQUIRED (3) from NOT_REQUIRED (-2),
 * NOT_AVAIL (0) from NOT_SUPPORTED (with SSBS the host kernel mitigates whatever the firmware says).
 */
function firmwareFor(regs: ReadonlyMap<RegId, bigint>): { firmware: HostFirmware; learned: boolean } {
  const wa1 = regs.get(FW_REGS.SMCCC_ARCH_WORKAROUND_1);
  const wa2 = regs.get(FW_REGS.SMCCC_ARCH_WORKAROUND_2);
  const wa3 = regs.get(FW_REGS.SMCCC_ARCH_WORKAROUND_3);
  if (wa1 === undefined || wa2 === undefined || wa3 === undefined)
    return { firmware: TF_A_FIRMWARE, learned: false };
  const level13 = (level: bigint, fallback: number) =>
    level === 0n ? -1 : level === 1n ? 0 : level === 2n ? 1 : fallback;
  return {
    firmware: {
      ...TF_A_FIRMWARE,
      archFeatures: {
        wa1: level13(wa1, TF_A_FIRMWARE.archFeatures.wa1),
        wa2: wa2 === 3n ? -2 : -1,
        wa3: level13(wa3, TF_A_FIRMWARE.archFeatures.wa3),
      },
      note: "TF-A's conduit and versions; ARCH_FEATURES answers learned from the workaround registers",
    },
    learned: true,
  };
}

/**
 * Learns a CpuModel named `name` from `regs` (register id -> value, as a vCPU read them). `source` says
 * where the values come from. MIDR_EL1, CTR_EL0 and ID_AA64PFR0_EL1 are required.
 */
export function learnCpuModel(
  name: string,
  source: string,
  regs: ReadonlyMap<RegId, bigint>,
): LearnedCpuModel {
  const need = (id: RegId, what: string): bigint => {
    const v = regs.get(id);
    if (v === undefined) throw new RangeError(`cannot learn a CPU model without ${what}`);
    return v;
  };
  const midr = need(MIDR_EL1, "MIDR_EL1");
  const ctr = need(CTR_EL0, "CTR_EL0");
  const assumed: string[] = [];

  // The feature ID space (op0 3, op1 0, CRn 0, CRm 1..7) by catalog name; unallocated encodings read 0.
  const id: Record<string, bigint> = {};
  const ccsidr: Record<number, bigint> = {};
  for (const [rid, value] of regs) {
    const d = decodeId(rid);
    if (d.class === "demux" && d.demuxId === 0) ccsidr[d.value] = value;
    if (d.class !== "sysreg" || d.op0 !== 3 || d.op1 !== 0 || d.crn !== 0 || d.crm < 1 || d.crm > 7) continue;
    const def = sysregByEncoding(d);
    if (def) id[def.name] = value;
  }
  need(sysregId(3, 0, 0, 4, 0), "ID_AA64PFR0_EL1");

  // write_demux_regids: before 6.3 the caches the hardware's CLIDR_EL1 lists, from 6.3 CSSELR_MAX ids of
  // a CCSIDR KVM fabricates from CTR_EL0 (and CLIDR_EL1 is fabricated too, unless the VMM set it).
  const clidr = regs.get(CLIDR_EL1) ?? 0n;
  if (Object.keys(ccsidr).length >= CSSELR_MAX)
    assumed.push("cache geometry: the kernel fabricates CLIDR_EL1/CCSIDR (6.3+), so these are KVM's values");
  else assumed.push("CCSIDR set counts of a FEAT_CCIDX CPU (a dump shows the low 32 bits)");

  const pmcr = regs.get(PMCR_EL0);
  if (pmcr === undefined) assumed.push("PMU: PMCR_EL0 is not listed without a vCPU PMU, so none is modelled");
  const pmuCounters = pmcr === undefined ? 0 : Number((pmcr >> 11n) & 0x1fn); // PMCR_EL0.N

  const fw = firmwareFor(regs);
  if (!fw.learned) assumed.push("host firmware: TF-A's answers (no workaround registers)");
  assumed.push(
    "fields KVM hid from the dump's vCPUs (SVE, pointer authentication, PMU version, ...) read as the guest saw them",
    "no SVE vector lengths, DCZID_EL0 64-byte blocks, 64 online CPUs",
  );

  const pfr0 = id.ID_AA64PFR0_EL1 ?? 0n;
  const cpu: CpuModel = {
    name,
    kind: "learned",
    source,
    measured: false,
    midr,
    revidr: regs.get(REVIDR_EL1) ?? 0n,
    aidr: regs.get(AIDR_EL1) ?? 0n,
    ctr,
    dczid: ASSUMED_DCZID,
    cache: { clidr, ccsidr },
    id,
    pmuCounters,
    pmcr: pmcr === undefined ? 0n : pmcr & ~PMCR_KVM_BITS,
    onlineCpus: ASSUMED_ONLINE_CPUS,
    sveMaxVq: 0,
    sveVqMap: 0n,
    // vgic_host_has_gicv3: a GICv3 system-register interface (KVM shows GIC 1 for it from 6.1)
    gicv3: getField(pfr0, "ID_AA64PFR0_EL1", "GIC") !== 0,
    firmware: fw.firmware,
    hardwareStore: {},
  };
  return { cpu, assumed };
}
