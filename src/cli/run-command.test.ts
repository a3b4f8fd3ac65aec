import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { FleetError } from "../fleet/fleet.js";
import { InventoryError } from "../inventory/backend.js";
import { ProfileError } from "../formats/profile.js";
import { KvmError, KvmUnavailableError } from "../kvm/index.js";
import { VmOpError } from "../vm/managed-vm.js";
import { UsageError, command } from "./run-command.js";
import type { CommandResult } from "./run-command.js";

/** Runs a wrapped action, capturing stdout, stderr and the exit code it sets. */
async function run(fn: () => CommandResult | Promise<CommandResult>) {
  let stdout = "";
  let stderr = "";
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => ((stdout += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  const before = process.exitCode;
  try {
    await command(fn)();
    return { stdout, stderr, exitCode: process.exitCode };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.exitCode = before;
  }
}

describe("command (the exit-code contract)", () => {
  it("prints the result, notes after it on stderr, and exit code 1 when the answer is no", async () => {
    assert.deepEqual(await run(() => ({ stdout: "yes\n", notes: ["a note"] })), {
      stdout: "yes\n",
      stderr: "guestabi: a note\n",
      exitCode: undefined,
    });
    assert.equal((await run(() => ({ stdout: "no\n", ok: false }))).exitCode, 1);
  });

  it("turns KVM refusing an operation into one line and exit code 1, nothing on stdout", async () => {
    const refusals = [
      new VmOpError("pin", "kvm", "KVM_SET_ONE_REG PSCI_VERSION: EINVAL\nmore"),
      new KvmError("KVM_CREATE_VCPU", "ENOMEM"),
    ];
    for (const e of refusals) {
      const r = await run(() => {
        throw e;
      });
      assert.equal(r.exitCode, 1);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `guestabi: ${e.message.split("\n")[0]}\n`);
    }
  });

  it("passes bad input on as UsageError (exit code 2 in runCli), with the same message", async () => {
    for (const e of [
      new UsageError("bad --vcpus '0' (1..512)"),
      new ProfileError("p.json: not a host profile"),
      new FleetError("cannot read f.json: ENOENT"),
      new InventoryError("no host 'h1' in guestabi.db: nothing removed"),
      new KvmUnavailableError("no-kvm", "/dev/kvm: ENOENT"),
    ]) {
      await assert.rejects(
        run(() => {
          throw e;
        }),
        (x: unknown) => x instanceof UsageError && x.message === e.message,
      );
    }
  });

  it("lets anything else through (a bug, not a user error)", async () => {
    await assert.rejects(
      run(() => {
        throw new TypeError("boom");
      }),
      TypeError,
    );
  });
});
