/**
 * A small writer of QEMU migration streams for tests, in the layout src/vmm/qemu-stream.ts reads
 * (QEMU's migration/savevm.c, vmstate.c, ram.c and target/arm/machine.c, as cited there): the header,
 * the configuration, a RAM section whose pages are spread over a start, parts and an end, device
 * sections with their JSON description, cpu sections in vmstate_arm_cpu's field layout, QEMU_VM_EOF
 * and the description. It writes what QEMU would, so the reader's tests can put in values and read
 * them back.
 */

/** A described field: its bytes, as `count` elements of equal size (count > 1: an array). */
export interface FieldSpec {
  name: string;
  type?: string;
  data: Uint8Array;
  count?: number;
}

/** A vmstate description and the state it writes: fields, then subsections. */
export interface NodeSpec {
  vmsdName: string;
  version: number;
  fields: FieldSpec[];
  subsections?: NodeSpec[];
}

export interface DeviceSpec extends NodeSpec {
  idstr: string;
  instanceId: number;
}

export interface CpuSpec {
  instanceId: number;
  /** [id, value] in stream order. */
  cpregs: readonly (readonly [bigint, bigint])[];
  xregs?: readonly bigint[];
  pc?: bigint;
  pstate?: number;
  spEl?: readonly bigint[];
  elrEl?: readonly bigint[];
  bankedSpsr?: readonly bigint[];
  poweredOff?: boolean;
  /** V0..V31 as [low, high] u64 pairs; with `fpscr`, subsection cpu/vfp is written. */
  vregs?: readonly (readonly [bigint, bigint])[];
  fpscr?: number;
  /** 10.0's cpu/vfp/fpcr_fpsr subsection inside cpu/vfp. */
  fpcrFpsr?: { fpcr: bigint; fpsr: bigint };
}

export type PageKind = "zero" | "page" | "xbzrle";

export interface RamSpec {
  blocks: { name: string; length: number }[];
  /** Page records: block index, page number in it, kind. */
  pages: { block: number; page: number; kind: PageKind }[];
  /** How many SECTION_PART records the pages are spread over before the SECTION_END. */
  parts?: number;
}

export interface StreamSpec {
  /** undefined: "virt-7.2"; null: no configuration section. */
  machineType?: string | null;
  /** TARGET_PAGE_BITS; the configuration's target-page-bits subsection is written when it is not 10. */
  pageBits?: number;
  capabilities?: string[];
  /** Section footers (send-section-footer); default true. */
  footers?: boolean;
  ram?: RamSpec;
  /** Device sections written before the cpus. */
  devices?: DeviceSpec[];
  cpus: CpuSpec[];
}

class Out {
  private chunks: Uint8Array[] = [];
  length = 0;
  bytes(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u8(v: number): void {
    this.bytes(Uint8Array.of(v));
  }
  be16(v: number): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v);
    this.bytes(b);
  }
  be32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0);
    this.bytes(b);
  }
  be64(v: bigint): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v));
    this.bytes(b);
  }
  name(s: string): void {
    const b = Buffer.from(s, "latin1");
    this.u8(b.length);
    this.bytes(b);
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.length);
    let pos = 0;
    for (const c of this.chunks) {
      out.set(c, pos);
      pos += c.length;
    }
    return out;
  }
}

const be = (width: 4 | 8, values: readonly (bigint | number)[]): Uint8Array => {
  const b = new Uint8Array(width * values.length);
  const dv = new DataView(b.buffer);
  values.forEach((v, i) =>
    width === 4
      ? dv.setUint32(4 * i, Number(v) >>> 0)
      : dv.setBigUint64(8 * i, BigInt.asUintN(64, BigInt(v))),
  );
  return b;
};
const u32s = (values: readonly (bigint | number)[], name: string): FieldSpec => ({
  name,
  type: "uint32",
  data: be(4, values),
  count: values.length,
});
const u64s = (values: readonly (bigint | number)[], name: string): FieldSpec => ({
  name,
  type: "uint64",
  data: be(8, values),
  count: values.length,
});
const zeros = (n: number): bigint[] => Array.from({ length: n }, () => 0n);

/** vmstate_arm_cpu's fields and subsections (target/arm/machine.c, QEMU 7.2) for a vCPU. */
export function cpuNode(c: CpuSpec): NodeSpec {
  const ids = c.cpregs.map(([id]) => id);
  const values = c.cpregs.map(([, v]) => v);
  const fields: FieldSpec[] = [
    u32s(zeros(16), "env.regs"),
    u64s(c.xregs ?? zeros(32), "env.xregs"),
    u64s([c.pc ?? 0n], "env.pc"),
    { name: "cpsr", type: "cpsr", data: be(4, [c.pstate ?? 0x3c5]) },
    u32s([0], "env.spsr"),
    u64s(c.bankedSpsr ?? zeros(8), "env.banked_spsr"),
    u32s(zeros(8), "env.banked_r13"),
    u32s(zeros(8), "env.banked_r14"),
    u32s(zeros(5), "env.usr_regs"),
    u32s(zeros(5), "env.fiq_regs"),
    u64s(c.elrEl ?? zeros(4), "env.elr_el"),
    u64s(c.spEl ?? zeros(4), "env.sp_el"),
    { name: "cpreg_vmstate_array_len", type: "int32 le", data: be(4, [ids.length]) },
    // A VARRAY of no elements writes nothing and no description entry.
    ...(ids.length > 0 ? [u64s(ids, "cpreg_vmstate_indexes"), u64s(values, "cpreg_vmstate_values")] : []),
    u64s([0], "env.exclusive_addr"),
    u64s([0], "env.exclusive_val"),
    u64s([0], "env.exclusive_high"),
    { name: "unused", type: "unused_buffer", data: new Uint8Array(8) },
    u32s([0], "env.exception.syndrome"),
    u32s([0], "env.exception.fsr"),
    u64s([0], "env.exception.vaddress"),
    { name: "gt_timer[0]", type: "timer", data: new Uint8Array(8) },
    { name: "gt_timer[1]", type: "timer", data: new Uint8Array(8) },
    { name: "power_state", type: "powered_off", data: Uint8Array.of(c.poweredOff ? 1 : 0) },
  ];
  const subsections: NodeSpec[] = [];
  if (c.vregs && c.fpscr !== undefined)
    subsections.push({
      vmsdName: "cpu/vfp",
      version: 3,
      fields: [
        ...c.vregs.map(([lo, hi], n) => u64s([lo, hi], `env.vfp.zregs[${n}].d`)),
        u32s([0], "env.vfp.xregs[0]"),
        u32s(zeros(14), "env.vfp.xregs"),
        { name: "fpscr", type: "fpscr", data: be(4, [c.fpscr]) },
      ],
      subsections: c.fpcrFpsr
        ? [
            {
              vmsdName: "cpu/vfp/fpcr_fpsr",
              version: 1,
              fields: [
                { name: "fpcr", type: "fpcr", data: be(8, [c.fpcrFpsr.fpcr]) },
                { name: "fpsr", type: "fpsr", data: be(8, [c.fpcrFpsr.fpsr]) },
              ],
            },
          ]
        : [],
    });
  return { vmsdName: "cpu", version: 22, fields, subsections };
}

type Json = Record<string, unknown>;

/** vmstate_save_state_v: the fields' bytes and description entries, then each subsection's header and state. */
function writeNode(out: Out, node: NodeSpec, desc: Json): void {
  desc.vmsd_name = node.vmsdName;
  desc.version = node.version;
  desc.fields = node.fields.map((f) => {
    out.bytes(f.data);
    const count = f.count ?? 1;
    return {
      name: f.name,
      ...(count > 1 ? { array_len: count } : {}),
      type: f.type ?? "buffer",
      size: f.data.length / count,
    };
  });
  const subs = node.subsections ?? [];
  if (subs.length > 0)
    desc.subsections = subs.map((s) => {
      out.u8(0x05); // QEMU_VM_SUBSECTION
      out.name(s.vmsdName);
      out.be32(s.version);
      const d: Json = {};
      writeNode(out, s, d);
      return d;
    });
}

const RAM_ZERO = 0x02;
const RAM_MEM_SIZE = 0x04;
const RAM_PAGE = 0x08;
const RAM_EOS = 0x10;
const RAM_CONTINUE = 0x20;
const RAM_XBZRLE = 0x40;

/** A stream as QEMU writes it for `spec`. */
export function writeQemuStream(spec: StreamSpec): Uint8Array {
  const out = new Out();
  const pageBits = spec.pageBits ?? 12;
  const pageSize = 2 ** pageBits;
  const footers = spec.footers ?? true;
  out.be32(0x5145564d);
  out.be32(3);
  const machineType = spec.machineType === undefined ? "virt-7.2" : spec.machineType;
  if (machineType !== null) {
    out.u8(0x07);
    const name = Buffer.from(machineType, "latin1");
    out.be32(name.length);
    out.bytes(name);
    if (pageBits !== 10) {
      out.u8(0x05);
      out.name("configuration/target-page-bits");
      out.be32(1);
      out.be32(pageBits);
    }
    if (spec.capabilities?.length) {
      out.u8(0x05);
      out.name("configuration/capabilities");
      out.be32(1);
      out.be32(spec.capabilities.length);
      for (const c of spec.capabilities) out.name(c);
    }
  }
  let sectionId = 0;
  const footer = (id: number): void => {
    if (!footers) return;
    out.u8(0x7e);
    out.be32(id);
  };
  const header = (type: number, id: number, idstr?: string, instanceId?: number, version?: number): void => {
    out.u8(type);
    out.be32(id);
    if (idstr !== undefined) {
      out.name(idstr);
      out.be32(instanceId!);
      out.be32(version!);
    }
  };

  if (spec.ram) {
    const ram = spec.ram;
    const id = sectionId++;
    header(0x01, id, "ram", 0, 4);
    out.be64(BigInt(ram.blocks.reduce((n, b) => n + b.length, 0)) | BigInt(RAM_MEM_SIZE));
    for (const [i, b] of ram.blocks.entries()) {
      out.name(b.name);
      out.be64(BigInt(b.length));
      if (spec.capabilities?.includes("x-ignore-shared")) out.be64(BigInt(i) << 32n); // block->mr->addr
    }
    out.be64(BigInt(RAM_EOS));
    footer(id);
    const parts = (ram.parts ?? 0) + 1;
    let last: number | undefined;
    for (let p = 0; p < parts; p++) {
      header(p === parts - 1 ? 0x03 : 0x02, id);
      ram.pages.forEach((pg, i) => {
        if (i % parts !== p) return;
        const flag = pg.kind === "zero" ? RAM_ZERO : pg.kind === "page" ? RAM_PAGE : RAM_XBZRLE;
        const cont = pg.block === last ? RAM_CONTINUE : 0;
        out.be64(BigInt(pg.page * pageSize) | BigInt(flag | cont));
        if (!cont) out.name(ram.blocks[pg.block]!.name);
        last = pg.block;
        if (pg.kind === "zero") out.u8(0);
        else if (pg.kind === "page") out.bytes(new Uint8Array(pageSize).fill(pg.page & 0xff));
        else {
          out.u8(1); // ENCODING_FLAG_XBZRLE
          out.be16(3);
          out.bytes(Uint8Array.of(1, 0, 0));
        }
      });
      out.be64(BigInt(RAM_EOS));
      footer(id);
    }
  }

  const devices: Json[] = [];
  const sections: DeviceSpec[] = [
    ...(spec.devices ?? []),
    ...spec.cpus.map((c) => ({ ...cpuNode(c), idstr: "cpu", instanceId: c.instanceId })),
  ];
  for (const d of sections) {
    const id = sectionId++;
    header(0x04, id, d.idstr, d.instanceId, d.version);
    const desc: Json = { name: d.idstr, instance_id: d.instanceId };
    writeNode(out, d, desc);
    devices.push(desc);
    footer(id);
  }
  out.u8(0x00); // QEMU_VM_EOF
  const json = Buffer.from(JSON.stringify({ page_size: pageSize, devices }), "latin1");
  out.u8(0x06); // QEMU_VM_VMDESCRIPTION
  out.be32(json.length);
  out.bytes(json);
  return out.done();
}
