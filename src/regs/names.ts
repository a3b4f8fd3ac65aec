/**
 * Names for register ids, both ways. Every well-formed id gets a name that parseRegName() turns back
 * into the same id; known registers get their kernel name (tools/sysreg, uapi asm/kvm.h macros).
 */
import { coreRegByName, coreRegByOffset } from "./core-regs.js";
import {
  fwRegByIndex,
  fwRegByName,
  kvmTimerByEncoding,
  kvmTimerByName,
  timerSelftestAlias,
  sysregByEncoding,
  sysregByName,
} from "./catalog.js";
import type { KernelGeneration } from "./catalog.js";
import type { DecodedId, RegId, RegSize } from "./id.js";
import {
  COPROC,
  KVM_REG_ARM64,
  REG_SIZES,
  RegIdError,
  shownText,
  decodeId,
  encodeDecoded,
  makeId,
  parseId,
  sysregEncodingName,
} from "./id.js";

export interface RegName {
  /** guestabi's name; parseRegName(name) gives the id back. */
  name: string;
  /** The kernel's own name where it has one (selftests and uapi macros): KVM_REG_ARM_CORE_REG(regs.pc). */
  kernelName: string;
  /** False for ids that decode but name no register the catalog knows. */
  known: boolean;
  /** A short remark, e.g. for KVM's swapped timer encodings. */
  note?: string;
  /**
   * For KVM's timer ids: the architectural name of the encoding, which is how selftests up to 6.12
   * name them (the id named KVM_REG_ARM_TIMER_CNT has CNTV_CVAL_EL0's encoding).
   */
  encodingName?: string;
  /**
   * For KVM's timer ids: the name the kernel's get-reg-list.c selftest gives the id besides the KVM
   * name (KVM_REG_ARM_TIMER_CTL is CNTV_CTL_EL0 there), and the generations whose selftest uses it.
   */
  selftestName?: string;
  selftestKernels?: KernelGeneration[];
}

const hex = (n: number) => "0x" + n.toString(16);

/** The size KVM uses for a register of this class and kind (undefined: any size is "natural"). */
function naturalSize(d: DecodedId): RegSize | undefined {
  switch (d.class) {
    case "sysreg":
    case "fw":
    case "fwBitmap":
      return "U64";
    case "demux":
      return "U32";
    case "sve":
      return d.kind === "zreg"
        ? "U2048"
        : d.kind === "vls"
          ? "U512"
          : d.kind === "unknown"
            ? undefined
            : "U256";
    default:
      return undefined;
  }
}

function withSize(base: RegName, d: DecodedId): RegName {
  const natural = naturalSize(d);
  if (natural === undefined || natural === d.size) return base;
  // Same fields, other size: not the register the name denotes, so the size travels with the name.
  return { name: `${base.name}:${d.size}`, kernelName: `${base.kernelName}:${d.size}`, known: false };
}

/** CSSELR_EL1 as the CCSIDR demux value carries it: Level in bits 3:1, InD in bit 0. */
function cacheDescription(csselr: number): string {
  const level = (csselr >> 1) + 1;
  return `L${level} ${csselr & 1 ? "instruction" : "data/unified"} cache`;
}

/**
 * The feature-ID space op0=3, op1=0, CRn=0, CRm=1..7 is reserved by the architecture: unallocated
 * encodings read as zero, and KVM lists them as registers (ID_UNALLOCATED in arch/arm64/kvm/sys_regs.c).
 */
export function isReservedIdRegister(e: { op0: number; op1: number; crn: number; crm: number }): boolean {
  return e.op0 === 3 && e.op1 === 0 && e.crn === 0 && e.crm >= 1 && e.crm <= 7;
}

export function nameOf(id: RegId): RegName {
  const d = decodeId(id);
  switch (d.class) {
    case "core": {
      const core = coreRegByOffset(d.offset);
      if (core && core.size === d.size) return { name: core.name, kernelName: core.kernelName, known: true };
      const raw = `KVM_REG_ARM_CORE(${hex(d.offset)}):${d.size}`;
      return { name: raw, kernelName: raw, known: false };
    }
    case "demux": {
      if (d.demuxId === 0) {
        const base = {
          name: `CCSIDR[${d.value}]`,
          kernelName: `KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_DEMUX | KVM_REG_ARM_DEMUX_ID_CCSIDR | ${d.value}`,
          known: true,
          note: cacheDescription(d.value),
        };
        return withSize(base, d);
      }
      const raw = `KVM_REG_ARM_DEMUX(${hex(d.demuxId)},${hex(d.value)}):${d.size}`;
      return { name: raw, kernelName: raw, known: false };
    }
    case "sysreg": {
      const timer = kvmTimerByEncoding(d);
      const def = sysregByEncoding(d);
      let base: RegName;
      if (timer) {
        const note =
          timer.holds === timer.architecturalName
            ? undefined
            : `KVM's id for ${timer.holds} (the encoding is architecturally ${timer.architecturalName})`;
        const alias = timerSelftestAlias(timer);
        base = {
          name: timer.name,
          kernelName: timer.name,
          known: true,
          encodingName: timer.architecturalName,
          ...(alias ? { selftestName: alias.name, selftestKernels: alias.kernels } : {}),
          ...(note ? { note } : {}),
        };
      } else if (def) base = { name: def.name, kernelName: def.name, known: true };
      else if (isReservedIdRegister(d)) {
        const generic = sysregEncodingName(d);
        base = {
          name: generic,
          kernelName: generic,
          known: true,
          note: "unallocated ID register (reads as zero)",
        };
      } else {
        const generic = sysregEncodingName(d);
        base = { name: generic, kernelName: generic, known: false };
      }
      return withSize(base, d);
    }
    case "fw":
    case "fwBitmap": {
      const def = fwRegByIndex(d.class, d.index);
      const macro = d.class === "fw" ? "KVM_REG_ARM_FW_REG" : "KVM_REG_ARM_FW_FEAT_BMAP_REG";
      const base = def
        ? { name: def.name, kernelName: def.name, known: true }
        : { name: `${macro}(${d.index})`, kernelName: `${macro}(${d.index})`, known: false };
      return withSize(base, d);
    }
    case "sve": {
      if (d.kind === "unknown") {
        const raw = `KVM_REG_ARM64_SVE(${hex(d.low)}):${d.size}`;
        return { name: raw, kernelName: raw, known: false };
      }
      let name: string;
      if (d.kind === "zreg") name = `KVM_REG_ARM64_SVE_ZREG(${d.n}, ${d.slice})`;
      else if (d.kind === "preg") name = `KVM_REG_ARM64_SVE_PREG(${d.n}, ${d.slice})`;
      else if (d.kind === "ffr") name = `KVM_REG_ARM64_SVE_FFR(${d.slice})`;
      else name = "KVM_REG_ARM64_SVE_VLS";
      return withSize({ name, kernelName: name, known: true }, d);
    }
    case "unknown": {
      const raw = `KVM_REG_ARM64(${hex(d.coproc)},${hex(d.low)}):${d.size}`;
      return { name: raw, kernelName: raw, known: false };
    }
  }
}

const INT = String.raw`\s*(0x[0-9a-f]+|\d+)\s*`;
const num = (s: string) => Number(s);

/** Name forms that spell out their fields; each builds the id at its natural size. */
const FIELD_FORMS: { re: RegExp; build: (m: string[]) => DecodedId | undefined }[] = [
  {
    re: new RegExp(`^(?:ARM64_SYS_REG|sys_reg)\\(${INT},${INT},${INT},${INT},${INT}\\)$`, "i"),
    build: (m) => sysreg(m.slice(1).map(num)),
  },
  { re: /^S([0-3])_([0-7])_C(\d{1,2})_C(\d{1,2})_([0-7])$/i, build: (m) => sysreg(m.slice(1).map(num)) },
  {
    re: new RegExp(`^KVM_REG_ARM_FW_REG\\(${INT}\\)$`, "i"),
    build: (m) => ({ class: "fw", size: "U64", index: num(m[1]!) }),
  },
  {
    re: new RegExp(`^KVM_REG_ARM_FW_FEAT_BMAP_REG\\(${INT}\\)$`, "i"),
    build: (m) => ({ class: "fwBitmap", size: "U64", index: num(m[1]!) }),
  },
  {
    re: new RegExp(`^KVM_REG_ARM64_SVE_ZREG\\(${INT},${INT}\\)$`, "i"),
    build: (m) => sveIndexed("zreg", "U2048", num(m[1]!), num(m[2]!), 32),
  },
  {
    re: new RegExp(`^KVM_REG_ARM64_SVE_PREG\\(${INT},${INT}\\)$`, "i"),
    build: (m) => sveIndexed("preg", "U256", num(m[1]!), num(m[2]!), 16),
  },
  {
    re: new RegExp(`^KVM_REG_ARM64_SVE_FFR\\(${INT}\\)$`, "i"),
    build: (m) => sveIndexed("ffr", "U256", 0, num(m[1]!), 1),
  },
  { re: /^KVM_REG_ARM64_SVE_VLS$/i, build: () => ({ class: "sve", size: "U512", kind: "vls" }) },
  {
    re: new RegExp(`^CCSIDR\\[${INT}\\]$`, "i"),
    build: (m) => inRange({ class: "demux", size: "U32", demuxId: 0, value: num(m[1]!) }, 0xff),
  },
  {
    re: new RegExp(`^KVM_REG_ARM_DEMUX\\(${INT},${INT}\\)$`, "i"),
    build: (m) => inRange({ class: "demux", size: "U32", demuxId: num(m[1]!), value: num(m[2]!) }, 0xff),
  },
  {
    re: new RegExp(`^KVM_REG_ARM_CORE\\(${INT}\\)$`, "i"),
    build: (m) => inRange({ class: "core", size: "U64", offset: num(m[1]!) }, 0xffff),
  },
  {
    re: new RegExp(`^KVM_REG_ARM64_SVE\\(${INT}\\)$`, "i"),
    build: (m) => inRange({ class: "sve", size: "U64", kind: "unknown", low: num(m[1]!) }, 0xffff),
  },
  {
    re: new RegExp(`^KVM_REG_ARM64\\(${INT},${INT}\\)$`, "i"),
    build: (m) => {
      const [coproc, low] = [num(m[1]!), num(m[2]!)];
      return coproc <= 0xfff && low <= 0xffff ? decodeId(makeId("U64", coproc, low)) : undefined;
    },
  },
];

function sysreg([op0, op1, crn, crm, op2]: number[]): DecodedId | undefined {
  if (op0! > 3 || op1! > 7 || crn! > 15 || crm! > 15 || op2! > 7) return undefined;
  return { class: "sysreg", size: "U64", op0: op0!, op1: op1!, crn: crn!, crm: crm!, op2: op2! };
}

function sveIndexed(kind: "zreg" | "preg" | "ffr", size: RegSize, n: number, slice: number, regs: number) {
  if (n >= regs || slice >= 32) return undefined;
  return { class: "sve", size, kind, n, slice } as DecodedId;
}

/** Keeps a decoded id only when its raw numeric fields fit where the id carries them. */
function inRange(d: DecodedId, max: number): DecodedId | undefined {
  const values = Object.values(d).filter((v): v is number => typeof v === "number");
  return values.every((v) => v <= max) ? d : undefined;
}

/** The uapi constants an id is OR-ed together from (include/uapi/linux/kvm.h, asm/kvm.h). */
const UAPI_ID_CONSTANTS: ReadonlyMap<string, bigint> = new Map<string, bigint>([
  ["KVM_REG_ARM64", KVM_REG_ARM64],
  ...REG_SIZES.map((s, code) => [`KVM_REG_SIZE_${s}`, BigInt(code) << 52n] as [string, bigint]),
  ["KVM_REG_ARM_CORE", BigInt(COPROC.core) << 16n],
  ["KVM_REG_ARM_DEMUX", BigInt(COPROC.demux) << 16n],
  ["KVM_REG_ARM_DEMUX_ID_CCSIDR", 0n],
  ["KVM_REG_ARM64_SYSREG", BigInt(COPROC.sysreg) << 16n],
  ["KVM_REG_ARM_FW", BigInt(COPROC.fw) << 16n],
  ["KVM_REG_ARM64_SVE", BigInt(COPROC.sve) << 16n],
  ["KVM_REG_ARM_FW_FEAT_BMAP", BigInt(COPROC.fwBitmap) << 16n],
]);

/** "KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_DEMUX | KVM_REG_ARM_DEMUX_ID_CCSIDR | 2", as C code writes ids. */
function idFromOrExpression(name: string): RegId | undefined {
  const terms = name.split("|");
  if (terms.length < 2) return undefined;
  let id = 0n;
  for (const term of terms) {
    const constant = UAPI_ID_CONSTANTS.get(term.toUpperCase());
    const core = constant === undefined ? coreRegByName(term) : undefined;
    if (constant !== undefined) id |= constant;
    else if (core && /^KVM_REG_ARM_CORE_REG\(/i.test(term)) id |= BigInt(core.offset);
    else if (/^(0x[0-9a-f]+|\d+)$/i.test(term)) id |= BigInt(term);
    else
      throw new RegIdError(`unknown term '${shownText(term)}' in register expression '${shownText(name)}'`);
  }
  if (id >= 1n << 64n) throw new RegIdError(`register expression out of 64-bit range: '${shownText(name)}'`);
  decodeId(id); // rejects malformed ids
  return id;
}

function idFromBareName(name: string): RegId | undefined {
  const expression = idFromOrExpression(name);
  if (expression !== undefined) return expression;
  const core = coreRegByName(name);
  if (core) return makeId(core.size, COPROC.core, core.offset);
  const timer = kvmTimerByName(name);
  if (timer) return encodeDecoded({ class: "sysreg", size: "U64", ...timer });
  const def = sysregByName(name);
  if (def) return encodeDecoded({ class: "sysreg", size: "U64", ...def });
  const fw = fwRegByName(name);
  if (fw) return makeId("U64", fw.class === "fw" ? COPROC.fw : COPROC.fwBitmap, fw.index);
  for (const form of FIELD_FORMS) {
    const m = form.re.exec(name);
    if (!m) continue;
    const d = form.build([...m]);
    if (!d) throw new RegIdError(`register name has a field out of range: '${shownText(name)}'`);
    return encodeDecoded(d);
  }
  const coreAnyCase = coreRegByName(name, true);
  return coreAnyCase && makeId(coreAnyCase.size, COPROC.core, coreAnyCase.offset);
}

/**
 * Parses a register name or id: catalog names (ID_AA64PFR0_EL1, KVM_REG_ARM_PSCI_VERSION,
 * KVM_REG_ARM_TIMER_CNT), core names (pc, x3, vregs[5], KVM_REG_ARM_CORE_REG(regs.pc)), encodings
 * (S3_0_C0_C4_0, ARM64_SYS_REG(3,0,0,4,0)), uapi macros (KVM_REG_ARM64_SVE_ZREG(3,0),
 * KVM_REG_ARM_FW_REG(1)), hex ids, and any of these with a ":U32"-style size suffix.
 */
export function parseRegName(text: string): RegId {
  const trimmed = text.trim();
  if (/^(0x)?[0-9a-f]{16}$/i.test(trimmed) || /^0x[0-9a-f]+$/i.test(trimmed)) {
    const id = parseId(trimmed);
    decodeId(id); // rejects malformed ids
    return id;
  }
  const sizeMatch = /^(.*?):(U\d+)$/i.exec(trimmed);
  const bare = (sizeMatch ? sizeMatch[1]! : trimmed).replace(/\s+/g, "");
  const id = idFromBareName(bare);
  if (id === undefined) throw new RegIdError(`unknown register name: '${shownText(text)}'`);
  if (!sizeMatch) return id;
  const size = sizeMatch[2]!.toUpperCase() as RegSize;
  if (!REG_SIZES.includes(size))
    throw new RegIdError(`unknown register size '${shownText(sizeMatch[2] ?? "")}' in '${shownText(text)}'`);
  return encodeDecoded({ ...decodeId(id), size });
}
