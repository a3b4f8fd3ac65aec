import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readProfile, serializeProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { FirecrackerFileError, readFirecrackerEvidence } from "./firecracker-evidence.js";
import { profileFromFirecracker } from "./firecracker-import.js";
import type { FirecrackerImportOptions } from "./firecracker-import.js";
import { FINGERPRINT_FIXTURES } from "./testing/firecracker-fixtures.js";

const NOW = () => new Date("2030-01-02T03:04:05.000Z");
const PSCI_VERSION = 0x6030000000140000n;
const CCSIDR0 = 0x6020000000110000n; // U32
const FPSR = 0x60200000001000d4n; // U32
const X0 = 0x6030000000100000n;
const PSTATE = 0x6030000000100042n;
const V0 = 0x6040000000100054n; // U128
const V1 = 0x6040000000100058n;
const PC = 0x6030000000100040n;
const TIMER_CNT = 0x603000000013df1an;
const PTIMER_CNT = 0x603000000013df01n;
const PTIMER_CTL = 0x603000000013df11n;
const PTIMER_CVAL = 0x603000000013df12n;

const ALL_BITS = (v: bigint) => "0b" + v.toString(2).padStart(128, "0");
const hex = (v: unknown) =>
  typeof v === "bigint" ? "0x" + v.toString(16) : Buffer.from(v as Uint8Array).toString("hex");

function imported(text: string, opts: Partial<FirecrackerImportOptions> = {}): HostProfile {
  return profileFromFirecracker(readFirecrackerEvidence(text, "f.json"), {
    source: "dir/f.json",
    now: NOW,
    toolVersion: "test",
    ...opts,
  });
}

/** The value the profile's only configuration holds for `id`. */
function valueOf(p: HostProfile, id: bigint): unknown {
  return p.configs[0]!.reset!.find(([r]) => r === id)?.[1];
}

/** A template dump (what `template dump` writes: the fingerprint's guest_cpu_config) of a fixture. */
function templateDump(file = FINGERPRINT_FIXTURES[0]!.text): {
  reg_modifiers: { addr: string; bitmap: string }[];
} {
  return (JSON.parse(file) as { guest_cpu_config: { reg_modifiers: { addr: string; bitmap: string }[] } })
    .guest_cpu_config;
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    assert.ok(e instanceof FirecrackerFileError, String(e));
    assert.ok(!e.message.includes("\n"));
    return e.message;
  }
  assert.fail("accepted");
}

describe("Firecracker dumps as host profiles", () => {
  it("imports the nine public fingerprints: release, generation, registers, omitted ids and values as read", () => {
    const seen = FINGERPRINT_FIXTURES.map((f) => {
      const p = profileFromFirecracker(readFirecrackerEvidence(f.text, f.file), { source: f.path, now: NOW });
      const c = p.configs[0]!;
      assert.equal(p.configs.length, 1);
      assert.deepEqual(c.omitted, [PC, TIMER_CNT, PTIMER_CNT]);
      // The file's registers in the file's order.
      assert.deepEqual(
        c.reset!.map(([id]) => id),
        readFirecrackerEvidence(f.text, f.file).regs.map((r) => r.id),
      );
      assert.deepEqual(readProfile(serializeProfile(p), f.file), p);
      return [
        `${f.cpu} ${p.host.release} gen=${p.host.generation} regs=${c.reset!.length}`,
        `psci=${hex(valueOf(p, PSCI_VERSION))} ccsidr0=${hex(valueOf(p, CCSIDR0))} fpsr=${hex(valueOf(p, FPSR))}`,
        `pstate=${hex(valueOf(p, PSTATE))} x0=${hex(valueOf(p, X0))} v0=${hex(valueOf(p, V0))}`,
      ].join(" ");
    });
    const v0 = "00".repeat(16);
    const boot = `pstate=0x3c5 x0=0x87e00000 v0=${v0}`;
    assert.deepEqual(seen, [
      `N1 5.10.255-253.1008.amzn2.aarch64 gen=5.10 regs=312 psci=0x10000 ccsidr0=0x701fe01a fpsr=0x0 ${boot}`,
      `N1 6.1.172-216.329.amzn2023.aarch64 gen=6.1 regs=242 psci=0x10001 ccsidr0=0x701fe01a fpsr=0x0 ${boot}`,
      `N1 6.18.30-61.116.amzn2023.aarch64 gen=null regs=254 psci=0x10003 ccsidr0=0x2 fpsr=0x0 ${boot}`,
      `V1 5.10.255-253.1008.amzn2.aarch64 gen=5.10 regs=312 psci=0x10000 ccsidr0=0x1a fpsr=0x0 ${boot}`,
      `V1 6.1.172-216.329.amzn2023.aarch64 gen=6.1 regs=242 psci=0x10001 ccsidr0=0x1a fpsr=0x0 ${boot}`,
      `V1 6.18.30-61.116.amzn2023.aarch64 gen=null regs=254 psci=0x10003 ccsidr0=0x2 fpsr=0x0 ${boot}`,
      `V2 5.10.255-253.1008.amzn2.aarch64 gen=5.10 regs=312 psci=0x10000 ccsidr0=0x1a fpsr=0x0 ${boot}`,
      `V2 6.1.172-216.329.amzn2023.aarch64 gen=6.1 regs=242 psci=0x10001 ccsidr0=0x1a fpsr=0x0 ${boot}`,
      `V2 6.18.30-61.116.amzn2023.aarch64 gen=null regs=254 psci=0x10003 ccsidr0=0x2 fpsr=0x0 ${boot}`,
    ]);
  });

  it("records Firecracker's vCPU configuration and what a dump does not measure", () => {
    const f = FINGERPRINT_FIXTURES.find((x) => x.cpu === "V2" && x.kernel === "6.18")!;
    const p = profileFromFirecracker(readFirecrackerEvidence(f.text, f.file), {
      source: f.path,
      now: NOW,
      toolVersion: "test",
      cpuLabel: "graviton4",
    });
    const { reset, omitted, ...config } = p.configs[0]!;
    assert.equal(reset!.length, 254);
    assert.equal(omitted!.length, 3);
    assert.deepEqual(config, { name: "psci-0.2", features: ["PSCI_0_2"], init: "ok", durationMs: 0 });
    assert.deepEqual(
      { ...p, configs: [] },
      {
        format: "guestabi-host-profile",
        version: 1,
        tool: { name: "guestabi", version: "test" },
        backend: "linux",
        probedAt: "2030-01-02T03:04:05.000Z",
        durationMs: 0,
        host: {
          release: "6.18.30-61.116.amzn2023.aarch64",
          generation: null,
          cpuLabel: "graviton4",
          facts: null,
        },
        evidence: {
          source: "firecracker-fingerprint",
          from:
            "fingerprint_ARM_NEOVERSE_V2_6.18host.json: Firecracker 1.16.0-dev fingerprint dump (microcode (REVIDR_EL1) " +
            "0x0000000000000017, bios 1.0 revision 1.0); imported 2030-01-02T03:04:05.000Z, the dump has no date of its own",
          notMeasured: [
            "KVM capabilities and IPA size",
            "write experiments and writable masks",
            "guest view (first run)",
            "other vCPU configurations",
          ],
        },
        kvm: null,
        configs: [],
        skipped: [],
      },
    );
  });

  it("takes a template dump with --release, a U128 value as its 16 bytes little-endian, a U32 as its 32 bits", () => {
    const dump = templateDump();
    const set = (id: bigint, v: bigint) => {
      dump.reg_modifiers.find((m) => BigInt(m.addr) === id)!.bitmap = ALL_BITS(v);
    };
    set(V1, 0x0102030405060708090a0b0c0d0e0f10n);
    set(FPSR, 0x8000001fn);
    const p = imported(JSON.stringify(dump), { release: "6.1.0-31-arm64" });
    assert.equal(p.evidence?.source, "firecracker-template");
    assert.equal(
      p.evidence?.from,
      "f.json: Firecracker template dump, kernel release given by --release; imported 2030-01-02T03:04:05.000Z, the dump has no date of its own",
    );
    assert.deepEqual(p.host, { release: "6.1.0-31-arm64", generation: "6.1", cpuLabel: null, facts: null });
    assert.deepEqual(valueOf(p, V1), Uint8Array.from(Buffer.from("100f0e0d0c0b0a090807060504030201", "hex")));
    assert.equal(valueOf(p, FPSR), 0x8000001fn);
    assert.match(serializeProfile(p), /\["0x6040000000100058","100f0e0d0c0b0a090807060504030201"\]/);
    assert.match(serializeProfile(p), /\["0x60200000001000d4","0x8000001f"\]/);
  });

  it("leaves CNTPCT out of omitted when the kernel lists no physical timer (upstream before 6.4)", () => {
    const dump = templateDump();
    dump.reg_modifiers = dump.reg_modifiers.filter(
      (m) => ![PTIMER_CTL, PTIMER_CVAL].includes(BigInt(m.addr)),
    );
    const p = imported(JSON.stringify(dump), { release: "5.10.0-35-arm64" });
    assert.deepEqual(p.configs[0]!.omitted, [PC, TIMER_CNT]);
    assert.equal(p.configs[0]!.reset!.length, 310);
  });

  it("refuses what is not a dump of a host, and a kernel it cannot know, with one line", () => {
    const handWritten = { reg_modifiers: [{ addr: "0x603000000013c020", bitmap: "0bxxxx0001" }] };
    assert.equal(
      refusal(() => imported(JSON.stringify(handWritten), { release: "6.1.0" })),
      "dir/f.json: reg_modifiers[0] (ID_AA64PFR0_EL1) leaves bits to KVM ('x' or a short bitmap): a CPU template that sets only some bits modifies a host, it does not describe one",
    );
    const short = templateDump();
    short.reg_modifiers[3]!.bitmap = "0b10";
    assert.match(
      refusal(() => imported(JSON.stringify(short), { release: "6.1.0" })),
      /^dir\/f\.json: reg_modifiers\[3\] \(CCSIDR\[1\]\) leaves bits to KVM/,
    );
    assert.equal(
      refusal(() =>
        imported(
          JSON.stringify({
            ...templateDump(),
            vcpu_features: [{ index: 0, bitmap: "0b1" + "0".repeat(31) }],
          }),
          { release: "6.1.0" },
        ),
      ),
      "dir/f.json: it sets vcpu_features: a CPU template that sets only some bits modifies a host, it does not describe one",
    );
    assert.equal(
      refusal(() =>
        imported(JSON.stringify({ ...templateDump(), kvm_capabilities: ["170"] }), { release: "6.1.0" }),
      ),
      "dir/f.json: it sets kvm_capabilities: a CPU template that sets only some bits modifies a host, it does not describe one",
    );
    assert.equal(
      refusal(() => imported("{}", { release: "6.1.0" })),
      "dir/f.json: no reg_modifiers: not a dump of a host's registers",
    );
    const withPc = templateDump();
    withPc.reg_modifiers.push({ addr: "0x6030000000100040", bitmap: ALL_BITS(0x80000n) });
    assert.equal(
      refusal(() => imported(JSON.stringify(withPc), { release: "6.1.0" })),
      "dir/f.json: it lists pc, which every dump leaves out: not a dump",
    );
    assert.equal(
      refusal(() => imported(JSON.stringify(templateDump()))),
      "dir/f.json: a template dump does not record its kernel: give the host's 'uname -r' with --release",
    );
    assert.equal(
      refusal(() => imported(FINGERPRINT_FIXTURES[0]!.text, { release: "5.10.0" })),
      "dir/f.json: the fingerprint records kernel 5.10.255-253.1008.amzn2.aarch64, --release says 5.10.0",
    );
    // The same release as the fingerprint's is no conflict.
    assert.equal(
      imported(FINGERPRINT_FIXTURES[0]!.text, { release: "5.10.255-253.1008.amzn2.aarch64" }).host.generation,
      "5.10",
    );
    assert.equal(
      refusal(() => imported(JSON.stringify(templateDump()), { release: "6.1\n" })),
      "--release: at most 128 characters, no control characters",
    );
  });

  it("keeps evidence.from within its bound and free of control characters, whatever the file is called", () => {
    const name = "a\nb" + "x".repeat(400) + ".json";
    const p = profileFromFirecracker(readFirecrackerEvidence(FINGERPRINT_FIXTURES[0]!.text, "f"), {
      source: `/tmp/${name}`,
      now: NOW,
    });
    assert.ok(p.evidence!.from.startsWith("a?bxxx"));
    assert.ok(p.evidence!.from.length <= 512);
    assert.match(p.evidence!.from, /…: Firecracker 1\.16\.0-dev fingerprint dump/);
    assert.deepEqual(readProfile(serializeProfile(p)), p);
  });
});
