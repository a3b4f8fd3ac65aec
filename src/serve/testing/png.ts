/**
 * A small PNG reader for the browser tests: 8-bit, non-interlaced greyscale, RGB or RGBA (what
 * Chromium's screenshots are), IDAT inflated with node:zlib and each row unfiltered (PNG spec 9.2:
 * None, Sub, Up, Average, Paeth). Enough to count the pixels of a colour in a screenshot.
 */
import { inflateSync } from "node:zlib";

export interface Image {
  width: number;
  height: number;
  /** RGBA, 4 bytes a pixel, rows top to bottom. */
  rgba: Uint8Array;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Colour type -> channels (PNG spec 11.2.2): 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 4: 2, 6: 4 };

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

export function decodePng(png: Uint8Array): Image {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!buf.subarray(0, 8).equals(SIGNATURE)) throw new Error("not a PNG");
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  for (let at = 8; at + 8 <= buf.length;) {
    const length = buf.readUInt32BE(at);
    const type = buf.toString("latin1", at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [depth, colour, , , interlace] = [data[8], data[9], data[10], data[11], data[12]];
      channels = CHANNELS[colour!] ?? 0;
      if (depth !== 8 || channels === 0 || interlace !== 0)
        throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`);
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    at += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) throw new Error("PNG image data has the wrong length");
  const rows = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = rows.subarray(y * stride, (y + 1) * stride);
    const up = y > 0 ? rows.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? row[i - channels]! : 0;
      const upLeft = i >= channels ? up[i - channels]! : 0;
      const predicted = [0, left, up[i]!, (left + up[i]!) >> 1, paeth(left, up[i]!, upLeft)][filter];
      if (predicted === undefined) throw new Error(`bad PNG filter ${filter} on row ${y}`);
      row[i] = (src[i]! + predicted) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    const px = rows.subarray(p * channels, (p + 1) * channels);
    const [r, g, b, a] =
      channels === 1
        ? [px[0]!, px[0]!, px[0]!, 255]
        : channels === 2
          ? [px[0]!, px[0]!, px[0]!, px[1]!]
          : [px[0]!, px[1]!, px[2]!, channels === 4 ? px[3]! : 255];
    rgba.set([r, g, b, a], p * 4);
  }
  return { width, height, rgba };
}

/** How many pixels are within `tolerance` (per channel) of the colour "#rrggbb". */
export function countColour(img: Image, hex: string, tolerance = 8): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  let n = 0;
  for (let p = 0; p < img.width * img.height; p++) {
    const q = p * 4;
    if (
      Math.abs(img.rgba[q]! - r) <= tolerance &&
      Math.abs(img.rgba[q + 1]! - g) <= tolerance &&
      Math.abs(img.rgba[q + 2]! - b) <= tolerance
    )
      n++;
  }
  return n;
}
