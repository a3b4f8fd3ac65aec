// The real-KVM speed measurement's behaviour (lab/kvm-speed; never its times). With GUESTABI_LAB
// ("all", or a list naming KERNEL/neoverse-n1 for the kernels of the figure), each kernel boots once
// with the C program (regloop.c) and the Node side (dist/bench/kvm-guest.js) and the two must agree:
// the same register list on every vCPU, the same saved values (where they differ, only within the
// register's time-varying bits: compareReadBack), and the same registers whose read-back differed
// from what was written (time-varying registers aside). A failure means the two sides do not do the
// same thing, so their times are not comparable. Needs lab/setup.sh and a built dist/.
import assert from "node:assert/strict";
import path from "node:path";
import { describe, it } from "node:test";
import { REPO, buildInitramfs } from "../lab-lib.mjs";
import { SPEED_CPU, SPEED_KERNELS, buildRegloop, measureInGuest } from "./lib.mjs";

const spec = process.env.GUESTABI_LAB ?? "";
const kernels =
  spec === "all" ? SPEED_KERNELS : SPEED_KERNELS.filter((k) => spec.split(",").includes(`${k}/${SPEED_CPU}`));

describe(
  "real-KVM speed: C and koffi do the same (GUESTABI_LAB)",
  { skip: kernels.length === 0 && "GUESTABI_LAB names none of its kernels", concurrency: 2 },
  () => {
    let prepared;
    const prepare = () => (prepared ??= { initrd: buildInitramfs(), regloop: buildRegloop() });
    const lib = async () => ({
      ...(await import(path.join(REPO, "dist/kvm/values.js"))),
      ...(await import(path.join(REPO, "dist/vm/read-back.js"))),
      ...(await import(path.join(REPO, "dist/kvm/rules/time-varying.js"))),
    });

    for (const kernel of kernels)
      it(`saves and restores the same registers from C and through koffi on ${kernel}/${SPEED_CPU}`, async () => {
        const { regValueFromBytes, compareReadBack, timeVaryingRule } = await lib();
        const { initrd, regloop } = prepare();
        const doc = await measureInGuest({ kernel, cpu: SPEED_CPU, initrd, regloop, rounds: 1, vcpus: 4 });
        const { c, ioctlLoop } = doc.agreement;
        assert.equal(doc.vcpus, 4);
        assert.deepEqual(c.regs, doc.regs, "register counts per vCPU");
        const value = (id, hex) => regValueFromBytes(BigInt(id), Uint8Array.from(Buffer.from(hex, "hex")));
        for (let i = 0; i < 4; i++) {
          assert.deepEqual(
            Object.keys(ioctlLoop.saved[i]),
            Object.keys(c.saved[i]),
            `vCPU ${i}: register lists`,
          );
          for (const [id, hex] of Object.entries(c.saved[i])) {
            const status = compareReadBack(BigInt(id), value(id, hex), value(id, ioctlLoop.saved[i][id]));
            assert.notEqual(
              status,
              "mismatch",
              `vCPU ${i}: ${id} is ${hex} from C, ${ioctlLoop.saved[i][id]} through koffi`,
            );
          }
          const steady = (ids) => ids.filter((id) => !timeVaryingRule(BigInt(id)));
          assert.deepEqual(
            steady(ioctlLoop.readBackDiffers[i]),
            steady(c.readBackDiffers[i]),
            `vCPU ${i}: registers whose read-back differed`,
          );
        }
      });
  },
);
