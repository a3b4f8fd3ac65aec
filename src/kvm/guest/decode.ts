/**
 * Turns what the host recorded while the probe program ran (its MMIO accesses, and how the run ended)
 * into a typed result per item. Pure: the same stream always decodes the same way.
 */
import type { SystemEventName } from "../uapi.js";
import { DONE_MAGIC, MMIO_OFFSETS } from "./program.js";
import type { GuestCall, GuestLoad, GuestSysregRead, ProbeProgram, ProgramItem } from "./program.js";

/**
 * One KVM_EXIT_MMIO as the host saw it. value: the little-endian data as an unsigned integer, written
 * by the guest or, for a read, answered by the host.
 */
export interface MmioRecord {
  address: bigint;
  isWrite: boolean;
  length: number;
  value: bigint;
}

/** How the run stopped. */
export type ProbeEnd =
  | { kind: "done" }
  | { kind: "system-event"; event: SystemEventName | "UNRECOGNIZED"; type: number; data: bigint[] }
  | { kind: "exit"; reason: string; code: number }
  | { kind: "error"; op: string; errno: string; message: string }
  | { kind: "exit-limit"; exits: number };

/** An exception the guest's vector table caught. */
export interface ExceptionRecord {
  esr: bigint;
  elr: bigint;
  far: bigint;
  /** Vector entry 0..15 (offset / 0x80): 4..7 are "current EL with SPx" (sync, IRQ, FIQ, SError). */
  vector: number;
  /** ESR_ELx.EC (bits 31:26): 0x00 unknown reason (UNDEF), 0x16 HVC64, 0x17 SMC64, 0x18 MSR/MRS trap, ... */
  ec: number;
  /** The item whose code range holds ELR, if any. */
  item?: number;
}

interface ItemBase {
  index: number;
  name: string;
}
export interface CallFields {
  kind: "call";
  conduit: GuestCall["conduit"];
  functionId: number;
  args: readonly bigint[];
  timeVarying: boolean;
}
export interface SysregFields {
  kind: "sysreg";
  encoding: GuestSysregRead["encoding"];
}
export interface LoadFields {
  kind: "load";
  address: bigint;
  size: GuestLoad["size"];
}
type ItemFields = CallFields | SysregFields | LoadFields;

/**
 * returned/value: the guest stored its results (calls: x0..x3 after the call; sysregs: the MRS value;
 * loads: what an in-kernel device answered, zero-extended).
 * unhandled: a load that left KVM as a KVM_EXIT_MMIO read (no in-kernel device at the address; the
 * host answered zeros), so "the VM has no device there", not a value.
 * exception: the vector table caught an exception in the item's code (UNDEF, an external abort on a
 * load, etc.), results ignored.
 * ended-run: a terminal call after which the run ended (SYSTEM_OFF's SYSTEM_EVENT exit).
 * incomplete: some but not all result stores arrived; not-reached: none did.
 */
export type ProbeItemResult = ItemBase &
  (
    | (CallFields & { outcome: "returned"; x: [bigint, bigint, bigint, bigint] })
    | ((SysregFields | LoadFields) & { outcome: "value"; value: bigint })
    | (LoadFields & { outcome: "unhandled" })
    | (ItemFields & { outcome: "exception"; exception: ExceptionRecord })
    | (CallFields & { outcome: "ended-run"; end: ProbeEnd })
    | (ItemFields & { outcome: "incomplete"; stored: (bigint | undefined)[] })
    | (ItemFields & { outcome: "not-reached" })
  );

export interface ProbeResult {
  items: ProbeItemResult[];
  end: ProbeEnd;
  /** True when the program got through all items: DONE stored, or the terminal call ended the run. */
  completed: boolean;
  exceptions: ExceptionRecord[];
  /**
   * MMIO accesses outside the protocol: reads other than a load item's, unknown addresses, wrong sizes,
   * a wrong DONE value.
   */
  unexpected: MmioRecord[];
}

const EXC_RECORD: readonly number[] = [
  MMIO_OFFSETS.EXC_ESR,
  MMIO_OFFSETS.EXC_ELR,
  MMIO_OFFSETS.EXC_FAR,
  MMIO_OFFSETS.EXC_VECTOR,
];

function fieldsOf(p: ProgramItem): ItemFields {
  const it = p.item;
  switch (it.kind) {
    case "call":
      return {
        kind: "call",
        conduit: it.conduit,
        functionId: it.functionId,
        args: it.args,
        timeVarying: Boolean(it.timeVarying),
      };
    case "sysreg":
      return { kind: "sysreg", encoding: it.encoding };
    case "load":
      return { kind: "load", address: it.address, size: it.size };
  }
}

export function decodeProbe(
  program: ProbeProgram,
  records: readonly MmioRecord[],
  end: ProbeEnd,
): ProbeResult {
  const unexpected: MmioRecord[] = [];
  const exceptions: ExceptionRecord[] = [];
  const stored = program.items.map((p) => new Array<bigint | undefined>(p.resultCount).fill(undefined));
  const exitedToUserspace = program.items.map(() => false);
  const firstResult = program.mmioBase + BigInt(MMIO_OFFSETS.RESULTS);
  let pendingExc: bigint[] = [];
  let done = false;

  const findItem = (pc: bigint) => program.items.find((p) => pc >= p.pc.start && pc < p.pc.end);

  // A load's read exit comes before its result store; the first load item of that address and size
  // still waiting for both is the one the guest was executing (items run in order).
  const readingItem = (r: MmioRecord) =>
    program.items.find(
      (p) =>
        p.item.kind === "load" &&
        p.item.address === r.address &&
        p.item.size === r.length &&
        !exitedToUserspace[p.index] &&
        stored[p.index]![0] === undefined,
    );

  for (const r of records) {
    const off = r.address - program.mmioBase;
    if (!r.isWrite) {
      const reading = readingItem(r);
      if (reading) exitedToUserspace[reading.index] = true;
      else unexpected.push(r);
      continue;
    }
    if (r.length !== 8 || off < 0n) {
      unexpected.push(r);
      continue;
    }
    if (off === BigInt(MMIO_OFFSETS.DONE)) {
      if (r.value === DONE_MAGIC) done = true;
      else unexpected.push(r);
      continue;
    }
    const excSlot = EXC_RECORD.indexOf(Number(off));
    if (off < BigInt(MMIO_OFFSETS.RESULTS) && excSlot >= 0) {
      // ESR, ELR, FAR arrive in order, then the vector index closes the record.
      if (excSlot !== pendingExc.length) {
        unexpected.push(r);
        pendingExc = [];
        continue;
      }
      pendingExc.push(r.value);
      if (pendingExc.length === EXC_RECORD.length) {
        const [esr, elr, far, vector] = pendingExc as [bigint, bigint, bigint, bigint];
        const item = findItem(elr) ?? findItem(elr - 4n);
        exceptions.push({
          esr,
          elr,
          far,
          vector: Number(vector),
          ec: Number((esr >> 26n) & 0x3fn),
          ...(item ? { item: item.index } : {}),
        });
        pendingExc = [];
      }
      continue;
    }
    const rel = r.address - firstResult;
    const stride = BigInt(MMIO_OFFSETS.RESULT_STRIDE);
    const idx = rel >= 0n ? Number(rel / stride) : -1;
    const reg = rel >= 0n ? Number((rel % stride) / 8n) : -1;
    const slot = stored[idx];
    if (rel < 0n || rel % 8n !== 0n || !slot || reg >= slot.length) {
      unexpected.push(r);
      continue;
    }
    slot[reg] = r.value;
  }

  const terminalEnd = end.kind === "system-event";
  let reachedTerminal = false;
  const items = program.items.map((p, i): ProbeItemResult => {
    const base = { index: p.index, name: p.item.name };
    const fields = fieldsOf(p);
    const exception = exceptions.find((e) => e.item === p.index);
    if (exception) return { ...base, ...fields, outcome: "exception", exception };
    if (fields.kind === "load" && exitedToUserspace[i]) return { ...base, ...fields, outcome: "unhandled" };
    const got = stored[i]!;
    const n = got.filter((v) => v !== undefined).length;
    if (n === got.length) {
      if (fields.kind === "call")
        return { ...base, ...fields, outcome: "returned", x: got as [bigint, bigint, bigint, bigint] };
      return { ...base, ...fields, outcome: "value", value: got[0]! };
    }
    if (n > 0) return { ...base, ...fields, outcome: "incomplete", stored: got };
    if (
      fields.kind === "call" &&
      p.item.kind === "call" &&
      p.item.terminal &&
      terminalEnd &&
      !reachedTerminal
    ) {
      reachedTerminal = true;
      return { ...base, ...fields, outcome: "ended-run", end };
    }
    return { ...base, ...fields, outcome: "not-reached" };
  });

  // A terminal call only counts as having ended the run if everything before it was reached.
  const lastTerminal = items.findIndex((it) => it.outcome === "ended-run");
  const allBeforeReached = items
    .slice(0, lastTerminal < 0 ? items.length : lastTerminal)
    .every((it) => it.outcome !== "not-reached");
  const completed = done || (lastTerminal >= 0 && allBeforeReached);
  return { items, end, completed, exceptions, unexpected };
}

/** The x0 of a call result as the signed 64-bit value SMCCC/PSCI return codes are (-1 = NOT_SUPPORTED). */
export function signedX0(x0: bigint): bigint {
  return BigInt.asIntN(64, x0);
}
