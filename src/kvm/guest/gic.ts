/**
 * The load items with which a guest identifies its GICv3 interrupt controller: the distributor's,
 * the first redistributor's and the ITS's control, type and implementer registers, read at the
 * addresses the VMM's firmware tables give. Offsets and widths from the GIC architecture
 * specification (Arm IHI 0069, chapter 12 register maps); KVM serves them from vgic-mmio-v3.c
 * (vgic_v3_dist_registers, vgic_v3_rd_registers) and vgic-its.c (its_registers).
 */
import type { GuestLoad } from "./program.js";

/** Guest-physical bases of the vGIC's frames: GICD, vCPU 0's GICR (RD_base) and, if any, the ITS. */
export interface GicFrames {
  dist: bigint;
  redist: bigint;
  its?: bigint;
}

interface GicRegister {
  name: string;
  offset: number;
  size: 4 | 8;
}

const DIST_REGISTERS: readonly GicRegister[] = [
  { name: "GICD_CTLR", offset: 0x0000, size: 4 },
  { name: "GICD_TYPER", offset: 0x0004, size: 4 },
  { name: "GICD_IIDR", offset: 0x0008, size: 4 },
  { name: "GICD_TYPER2", offset: 0x000c, size: 4 },
  { name: "GICD_PIDR2", offset: 0xffe8, size: 4 },
];

const REDIST_REGISTERS: readonly GicRegister[] = [
  { name: "GICR_CTLR", offset: 0x0000, size: 4 },
  { name: "GICR_IIDR", offset: 0x0004, size: 4 },
  { name: "GICR_TYPER", offset: 0x0008, size: 8 },
];

const ITS_REGISTERS: readonly GicRegister[] = [
  { name: "GITS_CTLR", offset: 0x0000, size: 4 },
  { name: "GITS_IIDR", offset: 0x0004, size: 4 },
  { name: "GITS_TYPER", offset: 0x0008, size: 8 },
];

/**
 * GICD_CTLR, TYPER, IIDR, TYPER2, PIDR2; GICR_CTLR, IIDR, TYPER (of vCPU 0, which runs the probe); and
 * GITS_CTLR, IIDR, TYPER when the layout has an ITS. Not part of defaultProbeItems(): a caller adds
 * them for a VM that has a vGIC (a VM without one has no device there and would read "unhandled").
 */
export function gicProbeItems(layout: GicFrames): GuestLoad[] {
  const frames: [bigint, readonly GicRegister[]][] = [
    [layout.dist, DIST_REGISTERS],
    [layout.redist, REDIST_REGISTERS],
    ...(layout.its === undefined ? [] : [[layout.its, ITS_REGISTERS] as [bigint, readonly GicRegister[]]]),
  ];
  return frames.flatMap(([base, registers]) =>
    registers.map((r) => ({
      kind: "load" as const,
      name: r.name,
      address: base + BigInt(r.offset),
      size: r.size,
    })),
  );
}
