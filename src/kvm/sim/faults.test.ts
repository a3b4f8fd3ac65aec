import assert from "node:assert/strict";
import { test } from "node:test";
import { KvmError } from "../errors.js";
import { injectFaults } from "./faults.js";
import { SimSystem } from "./system.js";

test("a faulted destroy releases the VM, then reports the error (close(2))", () => {
  const inj = injectFaults(new SimSystem({ generation: "7.2", cpu: "max" }), [
    { when: (o) => o.op === "destroy", errno: "EIO" },
  ]);
  const vm = inj.system.createVm();
  inj.system.createVm();
  assert.equal(inj.liveVms(), 2);
  assert.throws(
    () => vm.destroy(),
    (e: unknown) => KvmError.is(e, "EIO"),
  );
  assert.equal(inj.liveVms(), 1);
  assert.throws(
    () => vm.checkExtension(1),
    (e: unknown) => KvmError.is(e, "EBADF"),
  ); // it is gone
  inj.system.close();
  assert.equal(inj.liveVms(), 0);
  assert.deepEqual(
    inj.injected().map((f) => [f.seq, f.op, f.errno]),
    [[3, "destroy", "EIO"]],
  );
});

test("any other faulted operation fails before it reaches the wrapped object", () => {
  const inj = injectFaults(new SimSystem({ generation: "7.2", cpu: "max" }), [{ nth: 2, errno: "EIO" }]);
  const vm = inj.system.createVm();
  assert.throws(
    () => vm.createVcpu(0),
    (e: unknown) => KvmError.is(e, "EIO"),
  );
  assert.ok(vm.createVcpu(0)); // vCPU 0 was not created by the failed call
  assert.equal(inj.count(), 3);
});
