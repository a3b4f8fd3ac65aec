/**
 * Firecracker's error texts on aarch64, as its users see them, built from the displaydoc strings of
 * each error enum along the chain (firecracker-microvm/firecracker v1.16.1, unchanged at main 81b38b9):
 *
 * - boot through the API (InstanceStart): rpc_interface.rs VmmActionError::StartMicrovm "Start microvm
 *   error: {0}", then builder.rs StartMicrovmError (Kvm "Kvm error: {0}", ConfigureSystem "System
 *   configuration error: {0}"), arch/aarch64/mod.rs ConfigurationError (VcpuConfig "Error creating vcpu
 *   configuration: {0}", VcpuConfigure "Error configuring the vcpu: {0}"), cpu_config/aarch64/mod.rs
 *   CpuConfigurationError (VcpuInit "Error initializing the vcpu: {0}", VcpuGetRegs "Error reading vcpu
 *   registers: {0}"), arch/aarch64/vcpu.rs KvmVcpuError and VcpuArchError;
 * - snapshot load through the API (PUT /snapshot/load): VmmActionError::LoadSnapshot "Load snapshot error:
 *   {0}", LoadSnapshotError::RestoreFromSnapshot "Failed to restore from snapshot: {0}" (rpc_interface.rs),
 *   persist.rs RestoreFromSnapshotError::Build "Failed to build microVM from snapshot: {0}", builder.rs
 *   BuildMicrovmFromSnapshotError::RestoreVcpus "Failed to restore vCPUs: {0}", vstate/vcpu.rs
 *   VcpuError::VcpuResponse "Failed to run action on vcpu: {0}", then KvmVcpuError;
 * - a KVM errno (kvm_ioctls::Error, vmm-sys-util errno.rs): io::Error's display, "<strerror> (os error N)",
 *   with musl's strerror (src/errno/__strerror.h): Firecracker's release binaries are linked with musl
 *   (tools/devtool build: "Default is musl").
 *
 * The API answers these in its fault_message (api_server/parsed_request.rs, mod.rs json_fault_message).
 */
import type { ErrnoName } from "../kvm/index.js";
import { errnoNumber } from "../kvm/index.js";

/** musl's strerror texts of the errnos KVM's vCPU ioctls answer (musl src/errno/__strerror.h). */
const MUSL_STRERROR: Partial<Record<string, string>> = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  ENXIO: "No such device or address",
  E2BIG: "Argument list too long",
  EBUSY: "Device or resource busy",
  ENODEV: "No such device",
  EINVAL: "Invalid argument",
  ENOEXEC: "Exec format error",
  EFAULT: "Bad address",
  ENOMEM: "Out of memory",
};

/** How Firecracker prints a KVM errno: "No such file or directory (os error 2)". */
export function firecrackerErrno(errno: ErrnoName): string {
  const text = MUSL_STRERROR[errno] ?? "No error information";
  return `${text} (os error ${errnoNumber(errno)})`;
}

/** The prefix of every boot error the API answers (InstanceStart). */
export const FC_START = "Start microvm error: ";
/** ... of a vCPU configuration error (configure_system_for_boot -> CpuConfiguration::new). */
export const FC_VCPU_CONFIG = `${FC_START}System configuration error: Error creating vcpu configuration: `;
/** ... of a snapshot restore error of a vCPU (build_microvm_from_snapshot -> KvmVcpu::restore_state). */
export const FC_RESTORE_VCPU =
  "Load snapshot error: Failed to restore from snapshot: Failed to build microVM from snapshot: " +
  "Failed to restore vCPUs: Failed to run action on vcpu: ";

/** KvmVcpuError::UnsupportedPmuV3 (vcpu.rs init_vcpu, v1.16.0+). */
export const FC_UNSUPPORTED_PMU = "Found unsupported KVM_ARM_VCPU_PMU_V3 bit set in vcpu features.";

/** Kvm::new: the first capability KVM_CHECK_EXTENSION answers 0 for (vstate/kvm.rs, "{0:#x?}"). */
export const fcMissingCapability = (cap: number): string =>
  `${FC_START}Kvm error: Missing KVM capabilities: 0x${cap.toString(16)}`;

/** KvmVcpu::init -> init_vcpu refusing PMU_V3, at boot. */
export const FC_BOOT_PMU = `${FC_VCPU_CONFIG}Error initializing the vcpu: ${FC_UNSUPPORTED_PMU}`;

/** KvmVcpu::init: KVM_ARM_VCPU_INIT refused (KvmVcpuError::Init inside CpuConfigurationError::VcpuInit). */
export const fcBootInit = (errno: ErrnoName): string =>
  `${FC_VCPU_CONFIG}Error initializing the vcpu: Error initializing the vcpu: ${firecrackerErrno(errno)}`;

/** get_registers: KVM_GET_ONE_REG of a template register refused; VcpuArchError::GetOneReg prints the id in decimal. */
export const fcBootGetReg = (id: bigint, errno: ErrnoName): string =>
  `${FC_VCPU_CONFIG}Error reading vcpu registers: Failed to get register ${id.toString(10)}: ${firecrackerErrno(errno)}`;

/** Registers a value as VcpuArchError::SetOneReg shows it (Aarch64RegisterRef::value_str: every byte). */
export const fcValueStr = (value: bigint, bytes: number): string =>
  "0x" + value.toString(16).padStart(bytes * 2, "0");

/** KvmVcpu::configure: KVM_SET_ONE_REG of a template value refused. */
export const fcBootSetReg = (id: bigint, value: string, errno: ErrnoName): string =>
  `${FC_START}System configuration error: Error configuring the vcpu: Error applying template: ` +
  `Failed to set register 0x${id.toString(16)} to value ${value}: ${firecrackerErrno(errno)}`;

/** KvmVcpu::init indexes kvm_vcpu_init.features[7] with the template's index: a Rust panic past it. */
export const fcFeatureIndexPanic = (index: number): string =>
  `index out of bounds: the len is 7 but the index is ${index}`;
