/** fast-check generators for snapshots and ABI templates, shared by their property tests. */
import assert from "node:assert/strict";
import fc from "fast-check";
import { validId } from "../../regs/testing/arbitraries.js";
import { COPROC, makeId, sysregId } from "../../regs/id.js";
import type { RegId } from "../../regs/id.js";
import type { RegValue } from "../../kvm/types.js";
import { FW_REGS, VCPU_FEATURES, coreXReg } from "../../kvm/uapi.js";
import { regSizeBytes } from "../../kvm/values.js";
import type { DeviceAttr, HostIdentity, Snapshot, VcpuSnapshot } from "../snapshot.js";
import { SVE_VLS_ID, SnapshotFormatError, vqsToVls } from "../snapshot.js";
import type { AbiTemplate } from "../template.js";
import type { MachinePins } from "../machine-pins.js";
import { SMCCC_FILTER_ACTIONS } from "../../kvm/uapi.js";
import type { SmcccFilterAction } from "../../kvm/uapi.js";

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const sortIds = (ids: RegId[]): RegId[] => ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

/** A value of exactly the id's size, in the interface's representation. */
export function regValueArb(id: RegId): fc.Arbitrary<RegValue> {
  const size = regSizeBytes(id);
  if (size > 8) return fc.uint8Array({ minLength: size, maxLength: size });
  return fc.bigInt({ min: 0n, max: (1n << BigInt(size * 8)) - 1n });
}

/** Any well-formed id except the VLS register (whose value must match the vCPU's sveVqs). */
const regIdArb = validId.filter((id) => id !== SVE_VLS_ID);
const regArb = regIdArb.chain((id) => regValueArb(id).map((value) => [id, value] as [RegId, RegValue]));

export const hostIdentityArb: fc.Arbitrary<HostIdentity> = fc.record(
  {
    release: fc.string({ unit: "binary", minLength: 1, maxLength: 24 }),
    generation: fc.oneof(
      fc.constantFrom("5.10", "6.1", "6.12", "7.2", null),
      fc.tuple(fc.nat(99), fc.nat(999)).map(([a, b]) => `${a}.${b}`),
    ),
    cpuLabel: fc.option(fc.string({ unit: "binary", maxLength: 24 })),
    profileSha256: fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString("hex")),
    backend: fc.constantFrom("linux", "sim"),
  },
  { requiredKeys: ["release", "generation", "cpuLabel"], noNullPrototype: true },
);

// noNullPrototype: decoded objects are plain, and deepStrictEqual compares prototypes.
const plain = { noNullPrototype: true } as const;
const attrArb: fc.Arbitrary<DeviceAttr> = fc.record(
  { group: u32, attr: u64, data: fc.uint8Array({ maxLength: 32 }) },
  plain,
);

/** Features (sorted, unique) with sveVqs exactly when SVE is among them. */
export const featuresArb = fc
  .record(
    {
      features: fc.uniqueArray(fc.integer({ min: 0, max: 223 }), { maxLength: 6 }),
      sveVqs: fc.option(fc.uniqueArray(fc.integer({ min: 1, max: 512 }), { minLength: 1, maxLength: 6 })),
    },
    plain,
  )
  .map(({ features, sveVqs }) => {
    const f = new Set(features.filter((b) => b !== VCPU_FEATURES.SVE));
    if (sveVqs) f.add(VCPU_FEATURES.SVE);
    return {
      features: [...f].sort((a, b) => a - b),
      ...(sveVqs ? { sveVqs: sveVqs.sort((a, b) => a - b) } : {}),
    };
  });

const vcpuArb = (id: number): fc.Arbitrary<VcpuSnapshot> =>
  fc
    .record(
      {
        target: u32,
        feat: featuresArb,
        attrs: fc.array(attrArb, { maxLength: 2 }),
        regs: fc.uniqueArray(regArb, { selector: ([rid]) => rid, maxLength: 24 }),
        withVls: fc.boolean(),
      },
      plain,
    )
    .map(({ target, feat, attrs, regs, withVls }) => {
      const m = new Map<RegId, RegValue>(regs);
      if (feat.sveVqs && withVls) m.set(SVE_VLS_ID, vqsToVls(feat.sveVqs));
      return {
        id,
        init: { target, features: feat.features },
        ...(feat.sveVqs ? { sveVqs: feat.sveVqs } : {}),
        attrs,
        regs: new Map(sortIds([...m.keys()]).map((k) => [k, m.get(k)!])),
      };
    });

export const snapshotArb: fc.Arbitrary<Snapshot> = fc
  .record(
    {
      source: hostIdentityArb,
      createdAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      note: fc.string({ unit: "binary", maxLength: 40 }),
      ipaBits: fc.oneof(fc.constant(0), fc.integer({ min: 32, max: 52 })),
      caps: fc.array(fc.record({ cap: u32, flags: u32, args: fc.array(u64, { maxLength: 4 }) }, plain), {
        maxLength: 3,
      }),
      vmAttrs: fc.array(attrArb, { maxLength: 2 }),
      machine: fc.oneof(
        fc.record(
          {
            nrIrqs: fc.integer({ min: 2, max: 31 }).map((n) => n * 32),
            its: fc.constant(false),
            gicdIidr: u32,
          },
          plain,
        ),
        fc.record(
          {
            nrIrqs: fc.integer({ min: 2, max: 31 }).map((n) => n * 32),
            its: fc.constant(true),
            gicdIidr: u32,
            gitsIidr: u32,
          },
          plain,
        ),
      ),
      vcpuIds: fc.uniqueArray(fc.oneof(fc.nat(8), u32), { maxLength: 3 }),
    },
    { requiredKeys: ["source", "ipaBits", "caps", "vmAttrs", "vcpuIds"], noNullPrototype: true },
  )
  .chain(({ vcpuIds, ipaBits, caps, vmAttrs, machine, ...rest }) =>
    fc.tuple(...vcpuIds.map(vcpuArb)).map((vcpus) => ({
      ...rest,
      vm: { ipaBits, caps, attrs: vmAttrs, ...(machine ? { machine } : {}) },
      vcpus,
    })),
  );

/** An ID register of the feature ID range (op0 3, op1 0/1/3, CRn 0). */
const idRegIdArb = fc
  .tuple(fc.constantFrom(0, 1, 3), fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 7 }))
  .map(([op1, crm, op2]) => sysregId(3, op1, 0, crm, op2));
const fwIdArb = fc
  .tuple(fc.constantFrom(COPROC.fw, COPROC.fwBitmap), fc.integer({ min: 0, max: 0xffff }))
  .map(([coproc, index]) => makeId("U64", coproc, index));

/** SMCCC filter ranges that do not overlap: range k starts in its own 256M slice of the function ids. */
const smcccFilterArb = fc.uniqueArray(fc.integer({ min: 0, max: 15 }), { maxLength: 4 }).chain((slices) =>
  fc.tuple(
    ...slices.map((k) =>
      fc.record(
        {
          base: fc.integer({ min: 0, max: 0xfff_ffff - 0x1_0000 }).map((o) => k * 0x1000_0000 + o),
          nrFunctions: fc.integer({ min: 1, max: 0x1_0000 }),
          action: fc.constantFrom(...(Object.keys(SMCCC_FILTER_ACTIONS) as SmcccFilterAction[])),
        },
        { noNullPrototype: true },
      ),
    ),
  ),
);

/** A template's machine section: any subset of its items. */
export const machinePinsArb: fc.Arbitrary<MachinePins> = fc.record(
  {
    gicdIidrRevision: fc.integer({ min: 0, max: 15 }),
    itsAbi: fc.integer({ min: 0, max: 15 }),
    pmuCounters: fc.integer({ min: 0, max: 31 }),
    counterOffset: u64,
    smcccFilter: smcccFilterArb,
  },
  { requiredKeys: [], noNullPrototype: true },
);

export const templateArb: fc.Arbitrary<AbiTemplate> = fc
  .record(
    {
      name: fc.string({ unit: "binary", maxLength: 20 }),
      idRegs: fc.uniqueArray(fc.tuple(idRegIdArb, u64), { selector: ([id]) => id, maxLength: 12 }),
      firmware: fc.uniqueArray(fc.tuple(fwIdArb, u64), { selector: ([id]) => id, maxLength: 6 }),
      feat: featuresArb,
      extra: fc.array(validId, { maxLength: 12 }),
      derivedFrom: fc.array(hostIdentityArb, { maxLength: 3 }),
      createdAt: fc.option(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        { nil: undefined },
      ),
      note: fc.option(fc.string({ unit: "binary", maxLength: 40 }), { nil: undefined }),
      machine: machinePinsArb,
    },
    {
      requiredKeys: ["idRegs", "firmware", "feat", "extra", "derivedFrom", "createdAt", "note"],
      noNullPrototype: true,
    },
  )
  .map(({ name, idRegs, firmware, feat, extra, derivedFrom, createdAt, note, machine }) => ({
    ...(name !== undefined ? { name } : {}),
    idRegs: new Map(idRegs),
    firmware: new Map(firmware),
    ...feat,
    regs: new Set(sortIds([...idRegs.map(([id]) => id), ...firmware.map(([id]) => id), ...extra])),
    ...(machine !== undefined ? { machine } : {}),
    provenance: {
      derivedFrom,
      ...(createdAt !== undefined ? { createdAt } : {}),
      ...(note !== undefined ? { note } : {}),
    },
  }));

// ---- fixed examples and assertions ----

export const PFR0 = 0x603000000013c020n;
export const V0 = makeId("U128", 0x10, 0x54);
export const UNKNOWN = makeId("U256", 0x7ab, 0x1234); // a class guestabi does not know

/** A small fixed snapshot: core, ID, firmware, U128 and unknown-class registers. */
export function smallSnapshot(): Snapshot {
  return {
    source: { release: "6.1.0-31-arm64", generation: "6.1", cpuLabel: "Neoverse-N1", backend: "sim" },
    vm: { ipaBits: 40, caps: [{ cap: 7, flags: 0, args: [1n] }], attrs: [] },
    vcpus: [
      {
        id: 0,
        init: { target: 5, features: [VCPU_FEATURES.PSCI_0_2] },
        attrs: [{ group: 1, attr: 0n, data: Uint8Array.of(27, 0, 0, 0) }],
        regs: new Map<RegId, RegValue>([
          [coreXReg(0), 0x1234n],
          [PFR0, 0x1101001021110222n],
          [FW_REGS.PSCI_VERSION, 0x10001n],
          [V0, Uint8Array.from({ length: 16 }, (_, i) => i)],
          [UNKNOWN, Uint8Array.from({ length: 32 }, (_, i) => 255 - i)],
        ]),
      },
    ],
  };
}

/** Asserts fn throws a one-line SnapshotFormatError with this code (and message part). */
export function throwsFormat(fn: () => unknown, code: SnapshotFormatError["code"], part?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SnapshotFormatError, `expected SnapshotFormatError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.ok(!e.message.includes("\n"));
    if (part) assert.match(e.message, part);
    return true;
  });
}
