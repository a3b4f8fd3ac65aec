/**
 * The machine part of baseline and check as a user runs them: simulated 5.10, 6.1 and 7.2 Neoverse-N1
 * profiles (their probe measured the vGIC's revisions and the PMU: the machine verdicts are measured), a
 * template with machine pins written and read back, the verdict lines printed.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { serializeProfile } from "../formats/profile.js";
import { simProfile } from "../check/testing/sim-profiles.js";
import { guestabi } from "./testing.js";

const CONFIGS = ["psci-0.2", "psci-0.2+pmu"];
let dir = "";
const f = (name: string) => path.join(dir, name);

/** The table lines of `check` output whose REGISTER is one of the machine items, spaces squeezed. */
const machineLines = (stdout: string): string[] =>
  stdout
    .split("\n")
    .filter((l) =>
      /\s(GICD_IIDR|GITS_IIDR|PMCR_EL0\s+N|KVM_ARM_VM_SMCCC_FILTER|KVM_ARM_SET_COUNTER_OFFSET)\s/.test(l),
    )
    .map((l) => l.replace(/\s{2,}/g, " | "));

describe("guestabi baseline / check: the machine pins", () => {
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-machine-"));
    for (const gen of ["5.10", "6.1", "7.2"] as const)
      fs.writeFileSync(f(`p${gen}.json`), serializeProfile(simProfile(gen, "neoverse-n1", CONFIGS)));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("baseline of 5.10 + 7.2 pins GICD_IIDR revision 2; 7.2 gives up its default 3", () => {
    const r = guestabi(["baseline", f("p5.10.json"), f("p7.2.json"), "--out", f("t510.json")]);
    assert.equal(r.stderr, "");
    // Exit 1 for a ONE_REG conflict outside the machine part: OSLSR_EL1 is listed by 7.2 only.
    assert.equal(r.code, 1);
    assert.match(r.stdout, /\nno single value satisfies \(1\):\n.*\n.*OSLSR_EL1 /);
    assert.match(r.stdout, /\nmachine: GICD_IIDR revision 2, ITS table ABI 0, PMU counters 6\n/);
    assert.match(
      r.stdout,
      /tolerated\s+GICD_IIDR\s+Revision\s+vgic_mmio_uaccess_write_v3_misc accepts revision 2 \(of \{2, 3\}\): the VMM writes GICD_IIDR 0x4b00243b once the vGIC exists/,
    );
    const t = JSON.parse(fs.readFileSync(f("t510.json"), "utf8")) as { machine: unknown };
    assert.deepEqual(t.machine, { gicdIidrRevision: 2, itsAbi: 0, pmuCounters: 6 });

    const c = guestabi(["check", f("t510.json"), "--host", f("p7.2.json"), "--all"]);
    assert.equal(c.code, 1, c.stderr); // OSLSR_EL1, as above
    assert.deepEqual(machineLines(c.stdout), [
      "tolerated | GICD_IIDR | Revision | vgic_mmio_uaccess_write_v3_misc accepts revision 2 (of {2, 3}): the VMM writes GICD_IIDR 0x4b00243b once the vGIC exists, else the guest sees revision 3",
      "ok | GITS_IIDR | Revision | table ABI 0 is what a new ITS here uses (vgic_its_create)",
      "ok | PMCR_EL0 | N | the PMU here has 6 counters, as pinned",
    ]);
  });

  it("a 6.1 + 7.2 baseline pins revision 3, which 5.10 refuses: check exits 1 and says why", () => {
    const r = guestabi(["baseline", f("p6.1.json"), f("p7.2.json"), "--out", f("t61.json")]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nmachine: GICD_IIDR revision 3, ITS table ABI 0, PMU counters 6\n/);
    const c = guestabi(["check", f("t61.json"), "--host", f("p5.10.json")]);
    assert.equal(c.code, 1);
    assert.deepEqual(machineLines(c.stdout), [
      "incompatible | GICD_IIDR | Revision | vgic_mmio_uaccess_write_v3_misc refuses revision 3 (EINVAL): this host accepts {2} and its guest sees revision 2 (0x4b00243b)",
    ]);
    const j = guestabi(["check", f("t61.json"), "--host", f("p5.10.json"), "--json"]);
    const doc = JSON.parse(j.stdout) as { verdicts: { register: string; kind: string; evidence: string }[] };
    assert.deepEqual(
      doc.verdicts.filter((v) => v.kind === "machine").map((v) => `${v.register} ${v.evidence}`),
      ["GICD_IIDR measured", "GITS_IIDR measured", "PMCR_EL0 inferred"],
    );
  });

  it("an SMCCC filter and a counter offset pinned by hand, checked on 6.1 (neither exists there)", () => {
    const t = JSON.parse(fs.readFileSync(f("t61.json"), "utf8")) as Record<string, unknown>;
    t.machine = {
      counterOffset: "0x100",
      smcccFilter: [{ base: "0x84000000", nrFunctions: 1, action: "DENY" }],
    };
    fs.writeFileSync(f("filtered.json"), JSON.stringify(t));
    const c = guestabi(["check", f("filtered.json"), "--host", f("p6.1.json")]);
    assert.equal(c.code, 1);
    assert.deepEqual(machineLines(c.stdout), [
      "incompatible | KVM_ARM_VM_SMCCC_FILTER | 0x84000000-0x84000000 DENY | no SMCCC filter here (KVM_ARM_VM_SMCCC_CTRL refused): the range cannot be denied; a call KVM implements in it (PSCI, TRNG, the KVM vendor services) is answered as on an unfiltered host, the others return SMCCC_RET_NOT_SUPPORTED (-1)",
      "tolerated | KVM_ARM_SET_COUNTER_OFFSET | no KVM_ARM_SET_COUNTER_OFFSET here (KVM_CAP_COUNTER_OFFSET absent): the VMM restores the guest's virtual counter through ONE_REG KVM_REG_ARM_TIMER_CNT instead (the kernel derives the offset from it), so CNTVCT_EL0 continues from its saved value but the pinned offset itself is not applied",
    ]);
    const ok = guestabi(["check", f("filtered.json"), "--host", f("p7.2.json")]);
    assert.equal(ok.code, 0, ok.stdout);
  });

  it("a machine section the schema refuses: one line, exit 2", () => {
    const t = JSON.parse(fs.readFileSync(f("t61.json"), "utf8")) as Record<string, unknown>;
    t.machine = { pmuCounters: 40 };
    fs.writeFileSync(f("bad.json"), JSON.stringify(t));
    const r = guestabi(["check", f("bad.json"), "--host", f("p6.1.json")]);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^guestabi: .*bad\.json: .*pmuCounters.*\n$/);
  });
});
