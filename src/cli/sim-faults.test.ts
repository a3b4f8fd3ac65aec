import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { KvmError } from "../kvm/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import { UsageError } from "./run-command.js";
import { parseFaultSpec, withSimFaults } from "./sim-faults.js";

const sim = () => openSimKvm({ generation: "7.2", cpu: "neoverse-n1" });

describe("GUESTABI_SIM_FAULTS", () => {
  it("parses N:ERRNO, OP:ERRNO and OP#N:ERRNO", () => {
    const rules = parseFaultSpec("12:EIO, destroy:EBADF,setOneReg#3:EINVAL");
    assert.deepEqual(
      rules.map((r) => [r.nth, r.errno]),
      [
        [12, "EIO"],
        [undefined, "EBADF"],
        [undefined, "EINVAL"],
      ],
    );
    const calls = [1, 2, 3, 4].map((seq) => rules[2]!.when!({ op: "setOneReg", seq }));
    assert.deepEqual(calls, [false, false, true, false]);
    assert.equal(rules[1]!.when!({ op: "destroy", seq: 9 }), true);
    assert.equal(rules[1]!.when!({ op: "createVm", seq: 9 }), false);
  });

  it("refuses a bad rule with one line naming it", () => {
    for (const bad of ["", "0:EIO", "12", "12:EFOO", "destroy:toString", "1:__proto__", "x#0:EIO", "12:EIO,"])
      assert.throws(
        () => parseFaultSpec(bad),
        (e: unknown) => e instanceof UsageError && e.message.startsWith("bad GUESTABI_SIM_FAULTS rule '"),
        bad,
      );
  });

  it("leaves the system alone without the variable; with it, injects and reports at close", () => {
    const plain = sim();
    assert.equal(withSimFaults(plain, {}), plain);
    const report = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-faults-")), "r.jsonl");
    const s = withSimFaults(sim(), { GUESTABI_SIM_FAULTS: "2:EIO", GUESTABI_SIM_FAULTS_REPORT: report });
    const vm = s.createVm();
    assert.throws(
      () => vm.createVcpu(0),
      (e: unknown) => KvmError.is(e, "EIO"),
    );
    s.close();
    assert.deepEqual(JSON.parse(fs.readFileSync(report, "utf8")), {
      operations: 2,
      injected: [{ seq: 2, op: "createVcpu", errno: "EIO" }],
      liveVms: 1,
    });
  });
});
