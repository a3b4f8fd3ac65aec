import type { KernelGeneration } from "./catalog.js";
import type { DecodedId, RegClass, RegId, RegSize } from "./id.js";
import { decodeId, formatId } from "./id.js";
import { nameOf } from "./names.js";

/** Everything guestabi can say about an id without a value: its name, class, size and raw fields. */
export interface IdDescription {
  id: string;
  name: string;
  kernelName: string;
  class: RegClass;
  size: RegSize;
  known: boolean;
  /** KVM's timer ids: the name get-reg-list.c selftests use besides the KVM name (CNTV_CTL_EL0). */
  selftestName?: string;
  /** The kernel generations whose selftest uses selftestName. */
  selftestKernels?: KernelGeneration[];
  note?: string;
  /** The class-specific fields the id carries (op0..op2, offset, index, n/slice, coproc/low). */
  fields: Record<string, number | string>;
}

export function describeId(id: RegId): IdDescription {
  const d: DecodedId = decodeId(id);
  const { class: cls, size, ...fields } = d;
  const n = nameOf(id);
  return {
    id: formatId(id),
    name: n.name,
    kernelName: n.kernelName,
    class: cls,
    size,
    known: n.known,
    ...(n.selftestName ? { selftestName: n.selftestName, selftestKernels: n.selftestKernels } : {}),
    ...(n.note ? { note: n.note } : {}),
    fields,
  };
}
