import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KERNEL_GENERATIONS } from "../regs/catalog-types.js";
import { headerDefines, readKsrc } from "./testing/ksrc.js";
import {
  CAPS,
  CORE_PC,
  CORE_PSTATE,
  CORE_SP,
  EXIT_REASONS,
  FW_REGS,
  IOCTL_DEFS,
  KVM_CAP,
  KVM_IOCTL,
  KVM_SMCCC_FILTER_SIZE,
  SYSTEM_EVENT_TYPES,
  UAPI_STRUCT_SIZES,
  VCPU_FEATURES,
  capInfo,
  capNumber,
  coreXReg,
  decodeIoctl,
  exitReasonName,
  featureIdRangeEncoding,
  featureIdRangeIndex,
  io,
  ior,
  iow,
  iowr,
  packSmcccFilter,
  systemEventName,
  vmTypeArmIpaSize,
} from "./uapi.js";

describe("ioctl numbers", () => {
  it("match the values every VMM uses", () => {
    const known: Record<string, number> = {
      KVM_GET_API_VERSION: 0xae00,
      KVM_CREATE_VM: 0xae01,
      KVM_CHECK_EXTENSION: 0xae03,
      KVM_GET_VCPU_MMAP_SIZE: 0xae04,
      KVM_CREATE_VCPU: 0xae41,
      KVM_RUN: 0xae80,
      KVM_GET_ONE_REG: 0x4010aeab,
      KVM_SET_ONE_REG: 0x4010aeac,
      KVM_ARM_VCPU_INIT: 0x4020aeae,
      KVM_ARM_PREFERRED_TARGET: 0x8020aeaf,
      KVM_GET_REG_LIST: 0xc008aeb0,
      KVM_SET_USER_MEMORY_REGION: 0x4020ae46,
      KVM_ENABLE_CAP: 0x4068aea3,
      KVM_ARM_VCPU_FINALIZE: 0x4004aec2,
    };
    for (const [name, value] of Object.entries(known))
      assert.equal(KVM_IOCTL[name as keyof typeof KVM_IOCTL], value, `${name} = 0x${value.toString(16)}`);
  });

  it("match the values a C compiler gives for the 7.2 headers", () => {
    // gcc -I<7.2 uapi headers>; printf("%zu", KVM_...) (identical for 5.10, 6.1, 6.12 where defined).
    assert.equal(KVM_IOCTL.KVM_SET_DEVICE_ATTR, 1075359457);
    assert.equal(KVM_IOCTL.KVM_GET_DEVICE_ATTR, 1075359458);
    assert.equal(KVM_IOCTL.KVM_HAS_DEVICE_ATTR, 1075359459);
    assert.equal(KVM_IOCTL.KVM_GET_MP_STATE, 2147790488);
    assert.equal(KVM_IOCTL.KVM_SET_MP_STATE, 1074048665);
    assert.equal(KVM_IOCTL.KVM_ARM_GET_REG_WRITABLE_MASKS, 2151722678); // 0x8040aeb6
  });

  it("encode and decode with the asm-generic rule dir<<30 | size<<16 | type<<8 | nr", () => {
    assert.equal(io(0xae, 0x80), 0xae80);
    assert.equal(ior(0xae, 0xaf, 32), 0x8020aeaf);
    assert.equal(iow(0xae, 0xab, 16), 0x4010aeab);
    assert.equal(iowr(0xae, 0xb0, 8), 0xc008aeb0);
    assert.deepEqual(decodeIoctl(0xc008aeb0), { dir: 3, type: 0xae, nr: 0xb0, size: 8 });
    assert.throws(() => iow(0xae, 0x100, 4), RangeError);
    assert.throws(() => iow(0xae, 1, 1 << 14), RangeError);
  });

  for (const gen of KERNEL_GENERATIONS) {
    const kvmH = readKsrc(gen, "include/uapi/linux/kvm.h");
    it(`agree with ${gen}'s include/uapi/linux/kvm.h`, { skip: !kvmH && `no ${gen} tree` }, () => {
      const defs = headerDefines(kvmH!);
      let checked = 0;
      for (const [name, def] of Object.entries(IOCTL_DEFS)) {
        const text = defs.get(name);
        if (!text) {
          // Only the writable-masks and counter-offset ioctls (6.4+) are newer than 5.10/6.1 among ours.
          assert.ok(
            ["KVM_ARM_GET_REG_WRITABLE_MASKS", "KVM_ARM_SET_COUNTER_OFFSET"].includes(name),
            `${name} missing in ${gen}`,
          );
          continue;
        }
        const m =
          /^(_IO|_IOR|_IOW|_IOWR)\s*\(\s*KVMIO\s*,\s*(0x[0-9a-fA-F]+|\d+)\s*(?:,\s*(.*?)\s*)?\)$/.exec(text);
        assert.ok(m, `${name}: unexpected definition '${text}'`);
        assert.equal(m[1], def.macro, `${name} macro`);
        assert.equal(Number(m[2]), def.nr, `${name} nr`);
        const argType = m[3]?.replace(/^struct\s+/, "");
        assert.equal(argType, "arg" in def ? def.arg : undefined, `${name} argument type`);
        checked++;
      }
      assert.ok(checked >= 19);
    });
  }
});

describe("struct sizes", () => {
  it("are the sizeof() values of the uapi structs", () => {
    assert.deepEqual(UAPI_STRUCT_SIZES, {
      int: 4,
      kvm_one_reg: 16,
      kvm_vcpu_init: 32,
      kvm_reg_list: 8,
      kvm_userspace_memory_region: 32,
      kvm_enable_cap: 104,
      kvm_device_attr: 24,
      reg_mask_range: 64,
      kvm_mp_state: 4,
      kvm_create_device: 12,
      kvm_arm_counter_offset: 16,
    });
    assert.equal(KVM_SMCCC_FILTER_SIZE, 24);
  });
});

describe("exit reasons, system events, vCPU features", () => {
  it("name numbers both ways", () => {
    assert.equal(EXIT_REASONS.MMIO, 6);
    assert.equal(EXIT_REASONS.HYPERCALL, 3);
    assert.equal(EXIT_REASONS.SYSTEM_EVENT, 24);
    assert.equal(exitReasonName(28), "ARM_NISV");
    assert.equal(exitReasonName(999), undefined);
    assert.equal(systemEventName(1), "SHUTDOWN");
    assert.equal(systemEventName(5), "SUSPEND");
    assert.equal(VCPU_FEATURES.PSCI_0_2, 2);
    assert.equal(VCPU_FEATURES.HAS_EL2, 7);
  });

  const kvmH = readKsrc("7.2", "include/uapi/linux/kvm.h");
  const asmH = readKsrc("7.2", "arch/arm64/include/uapi/asm/kvm.h");
  it("agree with 7.2's headers", { skip: !(kvmH && asmH) && "no 7.2 tree" }, () => {
    const defs = headerDefines(kvmH!);
    for (const [name, n] of Object.entries(EXIT_REASONS))
      assert.equal(defs.get(`KVM_EXIT_${name}`), String(n), name);
    for (const [name, n] of Object.entries(SYSTEM_EVENT_TYPES))
      assert.equal(defs.get(`KVM_SYSTEM_EVENT_${name}`), String(n), name);
    const asm = headerDefines(asmH!);
    for (const [name, n] of Object.entries(VCPU_FEATURES))
      assert.equal(asm.get(`KVM_ARM_VCPU_${name}`), String(n), name);
    assert.equal(asm.get("KVM_ARM_VM_SMCCC_CTRL"), "0");
    assert.equal(asm.get("KVM_ARM_FEATURE_ID_RANGE_SIZE"), "(3 * 8 * 8)");
  });
});

describe("register ids", () => {
  it("core registers are offsetof(struct kvm_regs)/4 in coproc 0x10", () => {
    assert.equal(coreXReg(0), 0x6030000000100000n);
    assert.equal(coreXReg(1), 0x6030000000100002n);
    assert.equal(coreXReg(30), 0x603000000010003cn);
    assert.equal(CORE_SP, 0x603000000010003en);
    assert.equal(CORE_PC, 0x6030000000100040n);
    assert.equal(CORE_PSTATE, 0x6030000000100042n);
    assert.throws(() => coreXReg(31), RangeError);
  });

  it("firmware registers are KVM_REG_ARM_FW_REG / KVM_REG_ARM_FW_FEAT_BMAP_REG", () => {
    assert.equal(FW_REGS.PSCI_VERSION, 0x6030000000140000n);
    assert.equal(FW_REGS.SMCCC_ARCH_WORKAROUND_3, 0x6030000000140003n);
    assert.equal(FW_REGS.STD_BMAP, 0x6030000000160000n);
    assert.equal(FW_REGS.VENDOR_HYP_BMAP_2, 0x6030000000160003n);
  });
});

describe("feature ID range", () => {
  it("indexes op1 0/1/3 as slots 0/1/2 (KVM_ARM_FEATURE_ID_RANGE_IDX)", () => {
    assert.equal(featureIdRangeIndex({ op0: 3, op1: 0, crn: 0, crm: 4, op2: 0 }), 32); // ID_AA64PFR0_EL1
    assert.equal(featureIdRangeIndex({ op0: 3, op1: 3, crn: 0, crm: 0, op2: 1 }), 129); // CTR_EL0
    assert.equal(featureIdRangeIndex({ op0: 3, op1: 1, crn: 0, crm: 0, op2: 1 }), 65); // CLIDR_EL1
    for (let i = 0; i < 192; i++) assert.equal(featureIdRangeIndex(featureIdRangeEncoding(i)), i);
    assert.throws(() => featureIdRangeIndex({ op0: 3, op1: 2, crn: 0, crm: 0, op2: 0 }), RangeError);
    assert.throws(() => featureIdRangeEncoding(192), RangeError);
  });
});

describe("VM helpers", () => {
  it("packs struct kvm_smccc_filter", () => {
    const b = packSmcccFilter({ base: 0xc6000040, nrFunctions: 2, action: "FWD_TO_USER" });
    assert.deepEqual([...b], [0x40, 0, 0, 0xc6, 2, 0, 0, 0, 2, ...new Array(15).fill(0)]);
  });

  it("passes the IPA size in the low 8 bits of the VM type", () => {
    assert.equal(vmTypeArmIpaSize(0), 0);
    assert.equal(vmTypeArmIpaSize(48), 48);
    assert.equal(vmTypeArmIpaSize(0x130), 0x30);
  });
});

describe("capability table", () => {
  it("has every 7.2 KVM_CAP_* with unique numbers", () => {
    assert.equal(CAPS.size, 244);
    assert.equal(new Set([...CAPS.values()].map((c) => c.number)).size, CAPS.size);
    assert.equal(capNumber("ARM_WRITABLE_IMP_ID_REGS"), 239);
    assert.equal(capNumber("KVM_CAP_ARM_VM_IPA_SIZE"), 165);
    assert.equal(KVM_CAP.ARM_SUPPORTED_REG_MASK_RANGES, 230);
    assert.throws(() => capNumber("NO_SUCH_CAP"), RangeError);
  });

  it("records per generation whether the header defines a cap, and arm64 visibility", () => {
    const imp = capInfo(239)!;
    assert.equal(imp.name, "KVM_CAP_ARM_WRITABLE_IMP_ID_REGS");
    assert.deepEqual(imp.defined, { "5.10": false, "6.1": false, "6.12": false, "7.2": true });
    const pit2 = capInfo("PIT2")!;
    assert.equal(pit2.guard, "__KVM_HAVE_PIT");
    assert.equal(pit2.defined["6.1"], true);
    assert.equal(pit2.arm64["6.1"], false);
    assert.equal(capInfo("ARM_PSCI_0_2")!.arm64["5.10"], true);
  });

  for (const gen of KERNEL_GENERATIONS) {
    const kvmH = readKsrc(gen, "include/uapi/linux/kvm.h");
    it(
      `matches ${gen}'s header (regenerate with scripts/gen-kvm-uapi.mjs if not)`,
      { skip: !kvmH && `no ${gen} tree` },
      () => {
        const defs = headerDefines(kvmH!);
        for (const c of CAPS.values()) {
          assert.equal(defs.has(c.name), c.defined[gen], `${c.name} defined in ${gen}`);
          if (c.defined[gen]) assert.equal(defs.get(c.name), String(c.number), c.name);
        }
      },
    );
  }
});
