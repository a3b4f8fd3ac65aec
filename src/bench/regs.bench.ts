/** Throughput of the register model: decoding ids, naming them, and parsing names back to ids. */
import {
  CORE_REGS,
  COPROC,
  SYSREGS,
  decodeId,
  describeId,
  encodeDecoded,
  makeId,
  nameOf,
  parseRegName,
} from "../regs/index.js";
import type { RegId } from "../regs/index.js";
import { bench, formatRate, ratio } from "./harness.js";

export function runRegsBench(): string[] {
  const ids: RegId[] = [
    ...CORE_REGS.map((r) => makeId(r.size, COPROC.core, r.offset)),
    ...SYSREGS.map((r) => encodeDecoded({ class: "sysreg", size: "U64", ...r })),
  ];
  const names = ids.map((id) => nameOf(id).name);
  let sink = 0;
  const decode = bench(
    "decode (id -> fields)",
    ids.length,
    () => {
      for (const id of ids) sink += decodeId(id).size.length;
    },
    "ids/s",
  );
  const encode = bench(
    "encode (fields -> id)",
    ids.length,
    () => {
      for (const id of ids) sink += Number(encodeDecoded(decodeId(id)) & 1n);
    },
    "ids/s",
  );
  const describe = bench(
    "describe (id -> name, class, fields)",
    ids.length,
    () => {
      for (const id of ids) sink += describeId(id).name.length;
    },
    "ids/s",
  );
  const parse = bench(
    "encode by name (name -> id)",
    names.length,
    () => {
      for (const n of names) sink += Number(parseRegName(n) & 1n);
    },
    "ids/s",
  );
  if (sink === -1) console.log(sink); // keeps the loops from being optimised away
  return [
    `register model over ${ids.length} catalog ids`,
    ...[decode, encode, describe, parse].map(formatRate),
    ratio("decode / describe", decode, describe),
    ratio("describe / encode by name", describe, parse),
  ];
}
