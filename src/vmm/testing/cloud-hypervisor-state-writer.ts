/**
 * A test-only writer of Cloud Hypervisor state.json files (aarch64, KVM), written from the Rust
 * definitions at the release tags of github.com/cloud-hypervisor/cloud-hypervisor, independently of the
 * reader: Cloud Hypervisor's repository holds no state.json to test on.
 *
 * Sources: vm-migration/src/lib.rs (Snapshot, SnapshotData: a Vec<u8> newtype up to v38, { state:
 * String } from v39), vmm/src/vm.rs (Vm::snapshot, Vm::send: serde_json::to_vec), vmm/src/cpu.rs
 * (CpuManager::snapshot: one child per vCPU id), hypervisor/src/lib.rs (CpuState), hypervisor/src/kvm/
 * aarch64/mod.rs (VcpuKvmState), hypervisor/src/kvm/mod.rs (KvmVcpu::state: core registers into
 * kvm_regs, U32/U64 ones into sys_regs, SVE ones into pre_finalize_regs/extended_regs from v53), and
 * kvm-bindings: derived serde in Cloud Hypervisor's fork up to v38 (field names of bindgen's structs),
 * serde_impls! byte arrays from v39 (kvm-bindings 0.8+ serialize.rs).
 */
import { COPROC, CORE_REGS } from "../../regs/index.js";
import type { RegId } from "../../regs/index.js";
import { leBytes, regValueToBytes } from "../../kvm/index.js";
import type { RegValue } from "../../kvm/index.js";
import { SVE_VLS_ID } from "../../formats/snapshot.js";

export type CloudHypervisorEra = "v29-v38" | "v39-v52" | "v53";

/** JSON text of a value, bigint as an exact integer, object members in the order given. */
export function exactJson(v: unknown): string {
  if (typeof v === "bigint") return v.toString();
  if (Array.isArray(v)) return `[${v.map(exactJson).join(",")}]`;
  if (typeof v === "object" && v !== null)
    return `{${Object.entries(v)
      .map(([k, x]) => `${JSON.stringify(k)}:${exactJson(x)}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

const coprocOf = (id: RegId): number => Number((id >> 16n) & 0xfffn);
const bytesOf = (b: Uint8Array): bigint[] => [...b].map(BigInt);
const leValue = (b: Uint8Array, at: number, n: number): bigint => {
  let v = 0n;
  for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(b[at + k]!);
  return v;
};

/** KvmVcpu::state of one vCPU, as `era` serialises it (the registers in KVM_GET_REG_LIST order). */
export function cloudHypervisorVcpuState(
  regs: [RegId, RegValue][],
  era: CloudHypervisorEra,
  mpState = 0,
): unknown {
  const core = new Uint8Array(864); // struct kvm_regs
  const sys: [RegId, bigint][] = [];
  const sve: { id: RegId; data: bigint[] }[] = [];
  for (const [id, value] of regs) {
    const bytes = regValueToBytes(id, value);
    if (coprocOf(id) === COPROC.core) core.set(bytes, Number(id & 0xffffn) * 4);
    else if (coprocOf(id) === COPROC.sve) sve.push({ id, data: bytesOf(bytes) });
    else sys.push([id, leValue(bytes, 0, bytes.length)]);
  }
  if (sve.length > 0 && era !== "v53") throw new Error(`${era} cannot snapshot SVE registers`);
  if (sve.length > 0) core.fill(0, 0x54 * 4); // v53 with SVE: get_fpsimd_regs is skipped
  if (era === "v29-v38") {
    const at = (name: string) => CORE_REGS.find((r) => r.name === name)!.offset * 4;
    const u64At = (off: number) => leValue(core, off, 8);
    return {
      Kvm: {
        mp_state: { mp_state: BigInt(mpState) },
        core_regs: {
          regs: {
            regs: Array.from({ length: 31 }, (_, n) => u64At(8 * n)),
            sp: u64At(at("sp")),
            pc: u64At(at("pc")),
            pstate: u64At(at("pstate")),
          },
          sp_el1: u64At(at("sp_el1")),
          elr_el1: u64At(at("elr_el1")),
          spsr: Array.from({ length: 5 }, (_, n) => u64At(at("spsr[0]") + 8 * n)),
          __bindgen_padding_0: 0n,
          fp_regs: {
            vregs: Array.from({ length: 32 }, (_, n) => leValue(core, at("vregs[0]") + 16 * n, 16)),
            fpsr: leValue(core, at("fpsr"), 4),
            fpcr: leValue(core, at("fpcr"), 4),
            __reserved: [0n, 0n],
          },
        },
        sys_regs: sys.map(([id, addr]) => ({ id, addr })),
      },
    };
  }
  const le = (v: bigint, n: number) => bytesOf(leBytes(v, n));
  return {
    Kvm: {
      mp_state: le(BigInt(mpState), 4),
      core_regs: bytesOf(core),
      sys_regs: sys.map(([id, addr]) => [...le(id, 8), ...le(addr, 8)]),
      ...(era === "v53"
        ? {
            pre_finalize_regs: sve.filter((r) => r.id === SVE_VLS_ID),
            extended_regs: sve.filter((r) => r.id !== SVE_VLS_ID),
          }
        : {}),
    },
  };
}

/** A SnapshotData of `era` around a state's JSON text. */
function snapshotData(json: string, era: CloudHypervisorEra): unknown {
  return era === "v29-v38" ? bytesOf(new TextEncoder().encode(json)) : { state: json };
}

const leaf = (json: string, era: CloudHypervisorEra) => ({
  snapshots: {},
  snapshot_data: snapshotData(json, era),
});

/** A whole state.json: the VM's Snapshot with its CPU, memory and device managers. */
export function writeCloudHypervisorState(vcpus: [RegId, RegValue][][], era: CloudHypervisorEra): string {
  // BTreeMap<String, Snapshot>: keys in string order ("0", "1", "10", "2").
  const ids = vcpus.map((_, i) => String(i)).sort();
  const cpuManager = {
    snapshots: Object.fromEntries(
      ids.map((id) => [id, leaf(exactJson(cloudHypervisorVcpuState(vcpus[Number(id)]!, era)), era)]),
    ),
    snapshot_data: null,
  };
  const vm = {
    snapshots: {
      "cpu-manager": cpuManager,
      "device-manager": {
        snapshots: { __serial: leaf('{"out":[]}', era) },
        snapshot_data: snapshotData('{"device_tree":{}}', era),
      },
      "memory-manager": leaf('{"memory_ranges":{"ranges":[]},"guest_ram_mappings":[]}', era),
    },
    snapshot_data: snapshotData("{}", era), // VmSnapshot: nothing on aarch64
  };
  return exactJson(vm);
}
