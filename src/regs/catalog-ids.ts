/** Every register the catalog names: core registers, system registers, firmware registers, SVE_VLS. */
import { CORE_REGS } from "./core-regs.js";
import { FW_REGS, SYSREGS } from "./catalog.js";
import { COPROC, encodeDecoded, makeId } from "./id.js";
import type { RegId } from "./id.js";
import { parseRegName } from "./names.js";

/** Every register id the catalog names, in id order. */
export function catalogIds(): RegId[] {
  const ids = new Set<RegId>();
  for (const r of CORE_REGS) ids.add(makeId(r.size, COPROC.core, r.offset));
  for (const r of SYSREGS) ids.add(encodeDecoded({ class: "sysreg", size: "U64", ...r }));
  for (const r of FW_REGS) ids.add(makeId("U64", r.class === "fw" ? COPROC.fw : COPROC.fwBitmap, r.index));
  ids.add(parseRegName("KVM_REG_ARM64_SVE_VLS"));
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
