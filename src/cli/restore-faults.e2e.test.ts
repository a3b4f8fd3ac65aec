/**
 * `guestabi restore` under fault injection (GUESTABI_SIM_FAULTS, sim-faults.ts), as a user would run it:
 * a single fault at the first and last operation of every kind a restore makes, a destroy that fails
 * too, a snapshot without vCPUs and a bad fault spec. Each ends in a handled outcome — the VM restored,
 * or FAILED with one line saying why and exit code 1, or bad input with one line and exit code 2 —
 * never a stack trace, and a failed restore leaves no live VM (the simulator's report at close says).
 * Every operation index of the same restore is covered in-process by vm.test.ts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { injectFaults, openSimKvm } from "../kvm/sim/index.js";
import { restoreOnSim } from "../fleet/sim-ops.js";
import { writeSnapshotFile } from "../formats/snapshot-binary.js";
import type { Snapshot } from "../formats/snapshot.js";
import { createDefaultVm, save } from "../vm/vm.js";
import { guestabi } from "./testing.js";
import type { CliResult } from "./testing.js";

const GEN = "7.2";
const CPU = "neoverse-n1";
let dir = "";
let file = "";
let snapshot: Snapshot;
/** The operations of a restore of `file` on 7.2, in order (as GUESTABI_SIM_FAULTS numbers them). */
const ops: string[] = [];

interface Report {
  operations: number;
  injected: { seq: number; op: string; errno: string }[];
  liveVms: number;
}

function restoreWith(faults: string, json = true): { r: CliResult; report: Report } {
  const report = path.join(dir, `report-${faults.replace(/\W/g, "_")}.jsonl`);
  const r = guestabi(
    ["restore", "--snapshot", file, "--sim", `${GEN}/${CPU}`, ...(json ? ["--json"] : [])],
    undefined,
    { GUESTABI_SIM_FAULTS: faults, GUESTABI_SIM_FAULTS_REPORT: report },
  );
  assert.equal(r.stderr, "", faults);
  return { r, report: JSON.parse(fs.readFileSync(report, "utf8")) as Report };
}

describe("guestabi restore under injected faults (built CLI)", () => {
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-restore-faults-"));
    file = path.join(dir, "vm.snap");
    const m = createDefaultVm(openSimKvm({ generation: GEN, cpu: CPU }), { vcpus: 1, cpuLabel: CPU });
    snapshot = save(m, { createdAt: false });
    await writeSnapshotFile(file, snapshot, "binary");
    const logged = injectFaults(openSimKvm({ generation: GEN, cpu: CPU }), [
      { when: (o) => ops.push(o.op) < 0, errno: "EIO" },
    ]);
    assert.ok(restoreOnSim(snapshot, { system: logged.system, generation: GEN, cpu: CPU }).arrived);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("ends a fault at the first and last operation of each kind in a handled outcome, leaving no VM on failure", () => {
    // What each position ends in: restore works around a failed read of setIfDifferent (it writes
    // anyway) and of KVM_ARM_GET_REG_WRITABLE_MASKS (only a message's hint); every other fault fails it.
    const expected: [op: string, which: "first" | "last", outcome: "restored" | RegExp][] = [
      ["kernelRelease", "first", /^restore: uname \(the host's kernel release\): EIO$/],
      ["createVm", "first", /^restore: KVM_CREATE_VM\(ipa 40\): EIO$/],
      ["createVcpu", "first", /^restore: KVM_CREATE_VCPU 0: EIO; the destination VM was destroyed$/],
      [
        "preferredTarget",
        "first",
        /^restore: KVM_ARM_PREFERRED_TARGET: EIO; the destination VM was destroyed$/,
      ],
      ["init", "first", /^restore: vCPU 0: KVM_ARM_VCPU_INIT: EIO; the destination VM was destroyed$/],
      // the snapshot's machine: the vGICv3 first, its ITS last (vm/machine.ts buildMachine)
      [
        "createDevice",
        "first",
        /^restore: KVM_CREATE_DEVICE\(VGIC_V3\) and its frames: EIO; the destination VM was destroyed$/,
      ],
      [
        "createDevice",
        "last",
        /^restore: KVM_CREATE_DEVICE\(VGIC_V3\) and its frames: EIO; the destination VM was destroyed$/,
      ],
      ["getRegWritableMasks", "first", "restored"],
      ["getOneReg", "first", "restored"],
      [
        "setOneReg",
        "first",
        /^restore: vCPU 0: KVM_SET_ONE_REG \S+ \(0x[0-9a-f]{16}\) = 0x[0-9a-f]+(?: \(LE bytes\))?: EIO; the destination VM was destroyed$/,
      ],
      [
        "setOneReg",
        "last",
        /^restore: vCPU 0: KVM_SET_ONE_REG \S+ \(0x[0-9a-f]{16}\) = 0x[0-9a-f]+(?: \(LE bytes\))?: EIO; the destination VM was destroyed$/,
      ],
      [
        "getOneReg",
        "last",
        /^restore: vCPU 0: KVM_GET_ONE_REG \S+ \(0x[0-9a-f]{16}\): EIO; the destination VM was destroyed$/,
      ],
      ["getRegListRaw", "last", /^restore: vCPU 0: KVM_GET_REG_LIST: EIO; the destination VM was destroyed$/],
    ];
    assert.deepEqual([...new Set(ops)].sort(), [...new Set(expected.map((x) => x[0]))].sort());
    assert.equal(ops.at(-1), "getRegListRaw");
    for (const [op, which, outcome] of expected) {
      const n = (which === "first" ? ops.indexOf(op) : ops.lastIndexOf(op)) + 1;
      const { r, report } = restoreWith(`${n}:EIO`);
      const doc = JSON.parse(r.stdout) as { restored: boolean; outcome: string; error?: string };
      assert.deepEqual(report.injected, [{ seq: n, op, errno: "EIO" }]);
      if (outcome === "restored") {
        assert.deepEqual(
          [r.code, doc.restored, doc.outcome, report.liveVms],
          [0, true, "restored", 1],
          `${n}`,
        );
      } else {
        assert.deepEqual(
          [r.code, doc.restored, doc.outcome, report.liveVms],
          [1, false, "failed", 0],
          `${n}`,
        );
        assert.match(doc.error!, outcome);
      }
    }
  });

  it("prints a failure as the FAILED outcome with one line saying why, exit code 1", () => {
    const n = ops.indexOf("createVcpu") + 1;
    const { r, report } = restoreWith(`${n}:ENOMEM`, false);
    assert.equal(r.code, 1);
    assert.equal(
      r.stdout,
      `restore ${file} on sim ${GEN}/${CPU}: FAILED\n` +
        "  failed       KVM_CREATE_VCPU 0: ENOMEM; the destination VM was destroyed\n",
    );
    assert.equal(report.liveVms, 0);
  });

  it("keeps the original error when the destination VM's destroy fails too, and leaves no VM", () => {
    const { r, report } = restoreWith("setOneReg#1:EIO,destroy:EBADF");
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.equal(doc["restored"], false);
    assert.equal(doc["errno"], "EIO");
    assert.equal(doc["destinationVmDestroyed"], true);
    assert.equal(doc["cleanupError"], "destroy (injected): EBADF (bad file descriptor)");
    assert.match(
      doc["error"] as string,
      /: EIO; the destination VM was destroyed, but its destroy reported: destroy \(injected\): EBADF \(bad file descriptor\)$/,
    );
    assert.deepEqual(
      report.injected.map((f) => f.op),
      ["setOneReg", "destroy"],
    );
    assert.equal(report.liveVms, 0);
  });

  it("refuses a snapshot without vCPUs as bad input: one line, exit code 2, nothing created", async () => {
    const zero = path.join(dir, "zero.json");
    await writeSnapshotFile(zero, { ...snapshot, vcpus: [] }, "json");
    const before = fs.readFileSync(zero);
    const r = guestabi(["restore", "--snapshot", zero, "--sim", `${GEN}/${CPU}`, "--json"]);
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [2, "", "guestabi: restore: the snapshot has no vCPUs: there is nothing to restore\n"],
    );
    assert.deepEqual(fs.readFileSync(zero), before);
  });

  it("refuses a bad GUESTABI_SIM_FAULTS with one line, exit code 2", () => {
    const r = guestabi(["restore", "--snapshot", file, "--sim", GEN], undefined, {
      GUESTABI_SIM_FAULTS: "0:EIO",
    });
    assert.deepEqual(
      [r.code, r.stdout, r.stderr],
      [
        2,
        "",
        "guestabi: bad GUESTABI_SIM_FAULTS rule '0:EIO' (N:ERRNO, OP:ERRNO or OP#N:ERRNO, like 12:EIO or destroy:EIO)\n",
      ],
    );
  });
});
