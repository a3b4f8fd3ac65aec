import assert from "node:assert/strict";
import { test } from "node:test";
import { FW_REGS } from "../uapi.js";
import { GENERATIONS, NEXT_GENERATION, SIM_GENERATION_MODELS, generationModel } from "./generations.js";
import { SIM_GENERATIONS } from "./model.js";
import type { GenerationModel, SimGeneration } from "./model.js";
import { resolveGenerations } from "./resolve.js";
import type { GenerationEntry } from "./resolve.js";

const rule = (m: GenerationModel, reg: string, field: string) =>
  m.idRules.find((r) => r.reg === reg && r.field === field);

test("every generation resolves, in order, with its own release and data tables", () => {
  assert.deepEqual(Object.keys(SIM_GENERATION_MODELS), [...SIM_GENERATIONS]);
  for (const g of SIM_GENERATIONS) assert.equal(generationModel(g).gen, g);
  assert.equal(GENERATIONS["6.1"].release, "6.1.0-sim-arm64");
  assert.equal(GENERATIONS["6.12"].data, "6.12");
  assert.equal(NEXT_GENERATION.data, "7.2");
  assert.equal(NEXT_GENERATION.synthetic, true);
  assert.equal(GENERATIONS["7.2"].synthetic, false);
  assert.match(GENERATIONS["6.12"].source, /linux-source-6\.12/);
});

test("resolved fields, pinned per generation", () => {
  const [g510, g61, g612, g72] = [
    GENERATIONS["5.10"],
    GENERATIONS["6.1"],
    GENERATIONS["6.12"],
    GENERATIONS["7.2"],
  ];
  assert.deepEqual(g510.psciVersions, [0x2n, 0x10000n]);
  assert.deepEqual(g61.psciVersions, [0x2n, 0x10000n, 0x10001n]);
  assert.deepEqual(g612.psciVersions, [0x2n, 0x10000n, 0x10001n]);
  assert.deepEqual(g72.psciVersions, [0x2n, 0x10000n, 0x10001n, 0x10002n, 0x10003n]);
  assert.deepEqual(
    [g510, g61, g612, g72].map((m) => m.validFeatures.length),
    [7, 7, 8, 9],
  );
  assert.deepEqual(
    [g510, g61, g612, g72].map((m) => m.pfr0CsvWritable),
    [["CSV2"], ["CSV2", "CSV3"], [], []],
  );
  assert.deepEqual(
    [g510, g61, g612, g72].map((m) => [m.idRegs, m.cacheIds, m.vcpuTarget, m.wa2SsbsFromVm]),
    [
      ["immutable", "host", "exact", false],
      ["immutable", "host", "exact", false],
      ["writable", "kvm", "genericOrCpu", true],
      ["writable", "kvm", "genericOrCpu", true],
    ],
  );
  // caps merge answer by answer
  assert.equal(g510.caps.NR_MEMSLOTS, 512);
  assert.equal(g61.caps.NR_MEMSLOTS, 32767);
  assert.equal(g72.caps.ARM_PSCI_0_2, 1);
  assert.equal(g61.caps.ARM_WRITABLE_IMP_ID_REGS, undefined);
  assert.equal(g72.caps.ARM_WRITABLE_IMP_ID_REGS, 1);
  assert.equal(g612.caps.COUNTER_OFFSET, 1);
  // bitmaps and services
  assert.deepEqual(g510.bitmaps, []);
  assert.deepEqual(
    g72.bitmaps.map((b) => b.id),
    [FW_REGS.STD_BMAP, FW_REGS.STD_HYP_BMAP, FW_REGS.VENDOR_HYP_BMAP, FW_REGS.VENDOR_HYP_BMAP_2],
  );
  assert.equal(NEXT_GENERATION.bitmaps.at(-1)!.features, 0b111n);
  assert.equal(NEXT_GENERATION.services.at(-1)!.name, "WIDGET");
  // ID rule rows: replaced in place, placed by after/before, new at the end of their register
  assert.deepEqual(rule(g510, "ID_AA64PFR1_EL1", "MTE"), {
    reg: "ID_AA64PFR1_EL1",
    field: "MTE",
    op: "clear",
  });
  assert.deepEqual(rule(g61, "ID_AA64PFR1_EL1", "MTE"), {
    reg: "ID_AA64PFR1_EL1",
    field: "MTE",
    op: "clear",
    unless: "mte",
  });
  assert.deepEqual(
    g612.idRules.filter((r) => r.reg === "ID_AA64PFR0_EL1").map((r) => r.field),
    ["SVE", "CSV2", "CSV3", "GIC", "AMU", "MPAM"],
  );
  assert.deepEqual(
    g72.idRules.filter((r) => r.reg === "ID_AA64PFR1_EL1").map((r) => r.field),
    ["MTE", "MTE_frac", "RAS_frac", "SME", "RNDR_trap", "NMI", "GCS", "THE", "MTEX", "PFAR", "MPAM_frac"],
  );
  assert.equal(g61.idRules.length, 18);
  assert.equal(g612.idRules.length, 27);
  assert.equal(g72.idRules.length, 33);
  assert.deepEqual(NEXT_GENERATION.idRules.at(-1), {
    reg: "ID_AA64PFR1_EL1",
    field: "PFAR",
    op: "force",
    value: 1,
  });
  assert.equal(NEXT_GENERATION.idRules.length, 33);
  // own fields are not inherited
  assert.deepEqual(g72.newHere.idFields, []);
  assert.deepEqual(NEXT_GENERATION.newHere.regs, ["PFAR_EL1"]);
  assert.notDeepEqual(g61.notable, g510.notable);
  // fields added for the rules: device attributes and the 7.x set_user filters
  assert.deepEqual(
    [g510, g61, g612, g72].map((m) => [m.pmuCtrlMaxAttr, m.timerCtrlMaxAttr, m.pfr0KeepsAArch64]),
    [
      [2, 1, false],
      [3, 1, false],
      [3, 3, false],
      [4, 3, true],
    ],
  );
});

test("vendor kernels and 6.18: their upstream base plus the rows their evidence shows", () => {
  assert.deepEqual(
    [...SIM_GENERATIONS],
    ["5.10", "5.10-amzn", "6.1", "6.1-amzn", "6.12", "6.18", "7.2", "next"],
  );
  const [amzn510, amzn61, g618] = ["5.10-amzn", "6.1-amzn", "6.18"].map((g) =>
    generationModel(g as SimGeneration),
  ) as [GenerationModel, GenerationModel, GenerationModel];
  const PTIMER = [0x603000000013df11n, 0x603000000013df01n, 0x603000000013df12n]; // CTL, CNT, CVAL
  // the fields each one changes, and only those
  const changed = (m: GenerationModel, base: GenerationModel) =>
    (Object.keys(m) as (keyof GenerationModel)[]).filter(
      (k) => !["gen", "release", "source", "notable"].includes(k) && m[k] !== base[k],
    );
  assert.deepEqual(changed(amzn510, GENERATIONS["5.10"]), [
    "caps",
    "timerRegs",
    "vendorHyp",
    "counterOffset",
    "services",
  ]);
  assert.deepEqual(changed(amzn61, GENERATIONS["6.1"]), ["timerRegs", "idRules"]);
  assert.deepEqual(changed(GENERATIONS["7.2"], g618), ["caps", "vgic"]); // + ARM_SEA_TO_USER, kvm_vgic_finalize_idregs
  // 5.10-amzn
  assert.deepEqual(amzn510.timerRegs.slice(3), PTIMER);
  assert.deepEqual([amzn510.caps.PTP_KVM, amzn510.caps.COUNTER_OFFSET], [1, 1]);
  assert.deepEqual(
    amzn510.services.map((s) => [s.name, s.bits.length]),
    [
      ["SMCCC", 0],
      ["PV_TIME", 0],
      ["KVM_VENDOR", 0],
    ],
  );
  assert.deepEqual([amzn510.data, amzn510.bitmaps, amzn510.psciLatest], ["5.10", [], 0x10000n]);
  // 6.1-amzn: CCIDX hidden, the rest 6.1's (immutable ID registers, the hardware's caches)
  assert.deepEqual(amzn61.timerRegs.slice(3), PTIMER);
  assert.deepEqual(amzn61.idRules.slice(-2), [
    { reg: "ID_AA64MMFR2_EL1", field: "CCIDX", op: "clear" },
    { reg: "ID_MMFR4_EL1", field: "CCIDX", op: "clear" },
  ]);
  assert.deepEqual([amzn61.idRegs, amzn61.cacheIds, amzn61.writableMasks], ["immutable", "host", false]);
  // 6.18: 7.2's tables, PSCI 1.3, VENDOR_HYP_BMAP_2, the timers through sys_reg_descs; no SEA_TO_USER
  assert.deepEqual(
    [g618.data, g618.synthetic, g618.psciLatest, g618.timerRegs, g618.idRegs, g618.writableImpIdRegs],
    ["7.2", false, 0x10003n, [], "writable", true],
  );
  assert.equal(g618.fwRegs.at(-1), FW_REGS.VENDOR_HYP_BMAP_2);
  assert.deepEqual([g618.caps.ARM_SEA_TO_USER, g618.caps.GUEST_MEMFD_FLAGS], [undefined, 3]);
  assert.equal(GENERATIONS["7.2"].caps.ARM_SEA_TO_USER, 1);
  assert.match(g618.source, /^linux-source-7\.2 \S+'s tables with 6\.18's rules/);
});

const FULL = GENERATIONS["5.10"] as unknown as Record<string, unknown>;
const full = (extra: Record<string, unknown> = {}) => ({ ...FULL, ...extra }) as unknown as GenerationEntry;
const delta = (d: Record<string, unknown>) =>
  ({ gen: "6.1", base: "5.10", release: "r", notable: [], ...d }) as unknown as GenerationEntry;
const resolve = (...e: GenerationEntry[]) => resolveGenerations(e, () => "src");

test("generation data is validated when loaded", () => {
  assert.equal(resolve(full(), delta({})).get("6.1")!.release, "r");
  assert.throws(() => resolve(full({ psciVersion: [] })), /5\.10: unknown key 'psciVersion'/);
  assert.throws(() => resolve(full({ trng: "yes" })), /5\.10: 'trng' has the wrong type/);
  assert.throws(() => resolve(full({ idRegs: "mutable" })), /'idRegs' has the wrong type/);
  assert.throws(() => resolve(full({ psciVersions: [2] })), /'psciVersions' has the wrong type/);
  assert.throws(
    () => resolve(full(), delta({ base: "6.12" })),
    /6\.1: base '6\.12' is not defined before it/,
  );
  assert.throws(() => resolve(delta({})), /base '5\.10' is not defined before it/);
  assert.throws(() => resolve(full(), delta({ cacheIDs: "kvm" })), /unknown key 'cacheIDs'/);
  assert.throws(() => resolve(full(), delta({ caps: { X: "maybe" } })), /'caps' has the wrong type/);
  assert.throws(
    () => resolve(full(), delta({ idRules: [{ reg: "R", field: "F", op: "clear", after: "R.G" }] })),
    /placed next to R\.G, which has no rule/,
  );
  assert.throws(
    () => resolve(full(), delta({ idRules: [{ reg: "R", field: "F", op: "zap" }] })),
    /'idRules'/,
  );
  assert.throws(() => resolve(full(), full()), /defined twice/);
  assert.throws(() => resolve(full({ gen: "4.19" })), /not a known generation name/);
  const noTrng = { ...FULL };
  delete noTrng.trng;
  assert.throws(() => resolve(noTrng as unknown as GenerationEntry), /'trng' is missing/);
});
