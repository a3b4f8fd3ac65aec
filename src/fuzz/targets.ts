/**
 * Every reader of user input as a fuzz target (the engine: src/formats/fuzz/engine.ts), seeded with
 * valid documents the project makes itself: simulator host profiles (probe(openSimKvm(...))), baseline
 * templates of them, a restore trial between two of them, sample snapshots, the example fleet, the
 * register names and ids of the catalog, Firecracker's public fingerprints (src/vmm/testdata), QEMU
 * migration streams, Firecracker snapshot state files and Cloud Hypervisor state.json files, the
 * serve API's request bodies and the heads of stored profiles (the inventory's). This folder sits
 * above fleet and serve (src/ARCHITECTURE.md) because its seeds need probe, check and fleet, and its
 * targets serve's body checks.
 */
import { isDeepStrictEqual } from "node:util";
import {
  RegIdError,
  catalogIds,
  decodeId,
  describeId,
  encodeDecoded,
  formatId,
  nameOf,
  parseId,
  parseRegName,
  sysregEncodingName,
} from "../regs/index.js";
import { openSimKvm } from "../kvm/sim/index.js";
import type { SimGeneration } from "../kvm/sim/index.js";
import { probe } from "../probe/probe.js";
import { restoreTrial } from "../probe/restore-trial.js";
import { baseline } from "../check/baseline.js";
import { FleetError, parseFleet } from "../fleet/fleet.js";
import exampleFleet from "../fleet/example-fleet.json" with { type: "json" };
import {
  ProfileError,
  profileToJson,
  readProfile,
  readProfileHead,
  serializeProfile,
} from "../formats/profile.js";
import type { HostProfile, ProfileHead } from "../formats/profile.js";
import { readRestoreTrial, serializeRestoreTrial } from "../formats/restore-trial.js";
import type { RestoreTrialDoc } from "../formats/restore-trial.js";
import {
  TemplateFormatError,
  formatTemplateJson,
  parseTemplateJson,
  templateToJson,
} from "../formats/template.js";
import type { AbiTemplate } from "../formats/template.js";
import { sampleSnapshots, snapshotBinaryTarget, snapshotJsonTarget } from "../formats/fuzz-snapshots.js";
import { PROTOTYPE_KEYS, mutateJsonText, mutateText, roundTrips } from "../formats/fuzz/engine.js";
import type { FuzzTarget } from "../formats/fuzz/engine.js";
import { FirecrackerFileError, readFirecrackerEvidence } from "../vmm/firecracker-evidence.js";
import { profileFromFirecracker } from "../vmm/firecracker-import.js";
import { FINGERPRINT_FIXTURES } from "../vmm/testing/firecracker-fixtures.js";
import { qemuStreamTarget } from "../vmm/qemu-stream-fuzz.js";
import { qemuFuzzSeeds } from "../vmm/testing/qemu-fixtures.js";
import { cloudHypervisorStateTarget, firecrackerSnapshotTarget } from "../vmm/vmm-readers-fuzz.js";
import { snapshotToJson } from "../formats/snapshot.js";
import type { Snapshot } from "../formats/snapshot.js";
import { vcpuFeatureNames, vcpuFeatures } from "../kvm/index.js";
import { abiHash, profileHash } from "../fleet/model.js";
import type { StoredAbi } from "../fleet/model.js";
import { checkRequestBody } from "../serve/api.js";
import type { BodyRoute } from "../serve/api.js";
import { HttpError } from "../serve/http.js";

/** The kind of a one-line document error, from its wording (parseDocument's and parseFleet's). */
function documentRejection(message: string): string {
  if (/: not JSON \(/.test(message)) return "syntax";
  if (/: larger than \d+ bytes/.test(message)) return "size";
  if (/: not a guestabi-[a-z-]+ document/.test(message)) return "format";
  if (/: unsupported .*version/.test(message)) return "version";
  if (/ is defined twice$| names an unknown group /.test(message)) return "reference";
  return "schema";
}

const NOW = () => new Date("2030-01-02T03:04:05.000Z");

function simProfile(generation: SimGeneration, cpu: string, configs?: string[]): HostProfile {
  const system = openSimKvm({ generation, cpu });
  try {
    return probe(system, {
      cpuLabel: cpu,
      ...(configs ? { configs } : {}),
      toolVersion: "fuzz",
      now: NOW,
      clock: () => 0,
    });
  } finally {
    system.close();
  }
}

/** The seed documents, made once per process (probing takes a second or so). */
export interface Seeds {
  profiles: HostProfile[];
  templates: AbiTemplate[];
  trials: RestoreTrialDoc[];
}

export function makeSeeds(): Seeds {
  // Small profiles (two configurations) keep a mutant's schema check quick; one full profile keeps
  // every configuration's shape among the seeds.
  const profiles = [
    simProfile("5.10", "cortex-a72", ["psci-0.2", "psci-0.1"]),
    simProfile("6.12", "neoverse-n1", ["psci-0.2", "psci-0.2+pmu"]),
    simProfile("7.2", "neoverse-n1"),
  ];
  const templates = [
    baseline(profiles.slice(0, 2), { name: "fuzz-fleet", now: NOW }).template,
    baseline([profiles[2]!], { now: NOW }).template,
  ];
  const system = openSimKvm({ generation: "7.2", cpu: "neoverse-n1" });
  let trials: RestoreTrialDoc[];
  try {
    trials = [
      restoreTrial(
        system,
        [
          { profile: profiles[0]!, source: "old.json" },
          { profile: profiles[1]!, source: "mid.json" },
        ],
        {
          cpuLabel: "neoverse-n1",
          toolVersion: "fuzz",
          now: NOW,
        },
      ),
    ];
  } finally {
    system.close();
  }
  return { profiles, templates, trials };
}

/**
 * A profile with its write experiments cut to the first few groups: a smaller valid profile, so
 * that most profile mutants take a few ms to read rather than tens.
 */
function trimmed(p: HostProfile): HostProfile {
  return {
    ...p,
    configs: p.configs.map((c) => (c.experiments ? { ...c, experiments: c.experiments.slice(0, 3) } : c)),
  };
}

/** The profile readers' seeds: the small profiles trimmed, and one whole. */
const profileSeeds = (s: Seeds): string[] =>
  [...s.profiles.map(trimmed), s.profiles[2]!].map(serializeProfile);

/** Host profiles: readProfile (ProfileError). */
export function profileTarget(s: Seeds): FuzzTarget<string> {
  return {
    name: "profile",
    seeds: profileSeeds(s),
    mutate: mutateJsonText,
    read: (text) => readProfile(text, "p.json"),
    rejection: (e) => (e instanceof ProfileError ? documentRejection(e.message) : undefined),
    verify: (doc) => roundTrips(doc, (p) => readProfile(serializeProfile(p as HostProfile))),
  };
}

/**
 * The heads of stored profiles: readProfileHead (ProfileError), which the inventory reads for every
 * profile it holds (src/inventory/stored.ts) and which checks the host and backend only. A head must
 * be the full profile's whenever readProfile accepts the same text.
 */
export function storedProfileHeadTarget(s: Seeds): FuzzTarget<string> {
  return {
    name: "stored-profile-head",
    seeds: profileSeeds(s),
    mutate: mutateJsonText,
    read: (text) => ({ text, head: readProfileHead(text, "profile h") }),
    rejection: (e) => (e instanceof ProfileError ? documentRejection(e.message) : undefined),
    verify: (doc) => {
      const { text, head } = doc as { text: string; head: ProfileHead };
      let full: HostProfile;
      try {
        full = readProfile(text, "profile h");
      } catch (e) {
        if (e instanceof ProfileError) return;
        throw e;
      }
      if (!isDeepStrictEqual(head, { host: full.host, backend: full.backend }))
        throw new Error("the head differs from the whole profile's host and backend");
    },
  };
}

/** ABI templates: parseTemplateJson, which calls templateFromJson (TemplateFormatError). */
export function templateTarget(s: Seeds): FuzzTarget<string> {
  return {
    name: "template",
    seeds: s.templates.map(formatTemplateJson),
    mutate: mutateJsonText,
    read: parseTemplateJson,
    rejection: (e) => (e instanceof TemplateFormatError ? e.code : undefined),
    verify: (doc) => roundTrips(doc, (t) => parseTemplateJson(formatTemplateJson(t as AbiTemplate))),
  };
}

/** Restore-trial documents: readRestoreTrial (ProfileError). */
export function restoreTrialTarget(s: Seeds): FuzzTarget<string> {
  return {
    name: "restore-trial",
    seeds: s.trials.map(serializeRestoreTrial),
    mutate: mutateJsonText,
    read: (text) => readRestoreTrial(text, "t.json"),
    rejection: (e) => (e instanceof ProfileError ? documentRejection(e.message) : undefined),
    verify: (doc) => roundTrips(doc, (t) => readRestoreTrial(serializeRestoreTrial(t as RestoreTrialDoc))),
  };
}

/**
 * Fleet files from text: JSON.parse then parseFleet, as readFleetFile does (its JSON error is a
 * FleetError there too); the template and snapshot files a fleet names are other targets.
 */
function readFleetText(text: string): unknown {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new FleetError(`f.json: not JSON (${(e as Error).message.split("\n")[0]})`);
  }
  return parseFleet(doc, "f.json");
}

export function fleetTarget(): FuzzTarget<string> {
  const withFiles = {
    ...exampleFleet,
    name: "files",
    vms: [
      { name: "db", group: "lts-n1", count: 3, vcpus: 8, template: "db.abi.json" },
      { name: "cache", group: "edge-a72", snapshot: "snaps/cache.snap" },
      { name: "web", group: "stable-n1", abi: "host-defaults", features: ["PSCI_0_2", "PMU_V3"] },
    ],
  };
  return {
    name: "fleet",
    seeds: [JSON.stringify(exampleFleet, null, 2), JSON.stringify(withFiles)],
    mutate: mutateJsonText,
    read: readFleetText,
    rejection: (e) => (e instanceof FleetError ? documentRejection(e.message) : undefined),
    verify: (doc) => roundTrips(doc, (f) => readFleetText(JSON.stringify(f))),
  };
}

const BODY_ROUTES: readonly BodyRoute[] = ["POST /hosts", "DELETE /hosts", "POST /vms", "DELETE /vms"];

/** A fuzz input that is no request: not JSON (what readJsonBody refuses), or no route of the API. */
class RequestInputError extends Error {
  override name = "RequestInputError";
  constructor(
    readonly kind: "syntax" | "route",
    message: string,
  ) {
    super(message);
  }
}

/**
 * A request as fuzz input, `{"route": "POST /vms", "body": ...}`: JSON.parse'd whole, as readJsonBody
 * parses a body (so `__proto__` keys in the body stay own properties), then its body checked by
 * checkRequestBody for its route.
 */
function readRequest(text: string): { route: BodyRoute; body: unknown } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new RequestInputError("syntax", `not JSON: ${(e as Error).message.split("\n")[0]}`);
  }
  const { route, body } = (typeof doc === "object" && doc !== null ? doc : {}) as Record<string, unknown>;
  if (!BODY_ROUTES.includes(route as BodyRoute))
    throw new RequestInputError("route", `no "route" of ${BODY_ROUTES.join(", ")}`);
  return { route: route as BodyRoute, body: checkRequestBody(route as BodyRoute, body) };
}

/** The body's JSON form again: a checked body's profile or ABI back in the form a client sends. */
function requestBodyJson(route: BodyRoute, body: unknown): unknown {
  if (route === "POST /hosts") {
    const profile = (body as { profile: string | HostProfile }).profile;
    return { ...(body as object), profile: typeof profile === "string" ? profile : profileToJson(profile) };
  }
  if (route !== "POST /vms") return body;
  const abi = (body as { abi: string | StoredAbi }).abi;
  const json =
    typeof abi === "string"
      ? abi
      : abi.kind === "host-defaults"
        ? { kind: abi.kind, features: vcpuFeatureNames(abi.features) }
        : abi.kind === "template"
          ? templateToJson(abi.template)
          : snapshotToJson(abi.snapshot);
  return { ...(body as object), abi: json };
}

/** The kind of the 400 a body check answers, from its wording (parseBody's, abiDocument's). */
function requestBodyRejection(message: string): string {
  if (/: unknown key '/.test(message)) return "unknown-key";
  if (/^profile: /.test(message)) return "profile";
  if (/^bad request body at abi[.:[]/.test(message)) return "abi";
  if (/: Too (small|big): /.test(message)) return "size";
  return "schema";
}

/**
 * The JSON bodies of serve's changing routes (POST and DELETE /hosts and /vms): the body checks of
 * src/serve/api.ts (checkRequestBody), whose only error is HttpError 400. Seeds as the API's clients
 * send them (src/serve/api.test.ts), names such as `__proto__` among them; an accepted body, written
 * again as JSON, must check to the same body.
 */
export function apiBodyTarget(s: Seeds, snapshot: Snapshot): FuzzTarget<string> {
  const profile = profileHash(s.profiles[0]!);
  const abi = abiHash({ kind: "host-defaults", features: vcpuFeatures("PSCI_0_2") });
  const requests: [BodyRoute, unknown][] = [
    ["POST /hosts", { group: "canary", profile, hosts: ["canary-1", "canary-2"] }],
    ["POST /hosts", { group: "__proto__", profile, hosts: ["__proto__", "constructor", "toString"] }],
    ["POST /hosts", { group: "edge", profile: profileToJson(trimmed(s.profiles[0]!)), hosts: ["edge-1"] }],
    ["DELETE /hosts", { hosts: ["canary-1", "canary-2"], withVms: true }],
    ["DELETE /hosts", { hosts: ["prototype"] }],
    [
      "POST /vms",
      {
        abi: { kind: "host-defaults", features: ["PSCI_0_2", "PMU_V3"] },
        vmm: "firecracker",
        vcpus: 2,
        vms: [
          { name: "probe-1", host: "canary-1" },
          { name: "__proto__", host: "constructor" },
        ],
      },
    ],
    ["POST /vms", { abi, vms: [{ name: "probe-3", host: "canary-1" }] }],
    [
      "POST /vms",
      { abi: templateToJson(s.templates[0]!), vmm: "qemu@7.2", vms: [{ name: "db", host: "h" }] },
    ],
    ["POST /vms", { abi: snapshotToJson(snapshot), vcpus: 512, vms: [{ name: "cache", host: "h" }] }],
    ["DELETE /vms", { vms: ["probe-1", "__proto__", "valueOf"] }],
  ];
  return {
    name: "api-body",
    seeds: requests.map(([route, body]) => JSON.stringify({ route, body })),
    mutate: mutateJsonText,
    read: readRequest,
    rejection: (e) =>
      e instanceof RequestInputError
        ? e.kind
        : e instanceof HttpError && e.status === 400
          ? requestBodyRejection(e.message)
          : undefined,
    verify: (doc) => {
      const { route, body } = doc as { route: BodyRoute; body: unknown };
      roundTrips(body, (b) => checkRequestBody(route, JSON.parse(JSON.stringify(requestBodyJson(route, b)))));
    },
  };
}

/** Catalog registers' names, kernel names, encodings and ids, and every other written form. */
function registerTexts(): string[] {
  const ids = catalogIds().filter((_, i) => i % 7 === 0);
  const out = new Set<string>([
    "pc",
    "x3",
    "sp_el1",
    "vregs[5]",
    "fpsr",
    "KVM_REG_ARM_CORE_REG(regs.pc)",
    "ARM64_SYS_REG(3,0,0,4,0)",
    "S3_0_C0_C4_0",
    "KVM_REG_ARM64_SVE_ZREG(3,0)",
    "KVM_REG_ARM64_SVE_PREG(15,1)",
    "KVM_REG_ARM64_SVE_FFR(0)",
    "KVM_REG_ARM64_SVE_VLS",
    "KVM_REG_ARM_FW_REG(1)",
    "KVM_REG_ARM_PSCI_VERSION",
    "KVM_REG_ARM_TIMER_CNT",
    "CCSIDR[2]",
    "KVM_REG_ARM_DEMUX(0,3)",
    "KVM_REG_ARM64(0x13,0xc020)",
    "KVM_REG_ARM64 | KVM_REG_SIZE_U32 | KVM_REG_ARM_DEMUX | KVM_REG_ARM_DEMUX_ID_CCSIDR | 2",
    "ID_AA64PFR0_EL1:U32",
    "  id_aa64mmfr1_el1  ",
  ]);
  for (const id of ids) {
    const n = nameOf(id);
    out.add(n.name).add(n.kernelName).add(formatId(id));
    const d = decodeId(id);
    if (d.class === "sysreg") out.add(sysregEncodingName(d));
  }
  return [...out];
}

const NAME_JUNK = [
  "(",
  ")",
  ",",
  "|",
  ":",
  "_",
  "[",
  "]",
  "0",
  "9",
  "x",
  "U",
  "U2048",
  "S3",
  "_EL1",
  "0x",
  "f",
  " ",
  "\t",
  "\n",
  "99999999999999999999",
  "-1",
  "\u0000",
  "\u00e9",
  ...PROTOTYPE_KEYS,
];

/** Register names (the decode/encode/fields commands' arguments and stdin lines): parseRegName (RegIdError). */
export function regNameTarget(): FuzzTarget<string> {
  return {
    name: "reg-name",
    seeds: registerTexts(),
    mutate: (r, base, other) => mutateText(r, base, other, NAME_JUNK),
    read: (text) => {
      const id = parseRegName(text);
      describeId(id);
      return id;
    },
    rejection: (e) => (e instanceof RegIdError ? "reg" : undefined),
    verify: (id) => {
      if (parseRegName(formatId(id as bigint)) !== id) throw new Error("the id does not parse back");
    },
  };
}

/** Register ids as text: parseId, then decodeId (RegIdError), as a profile or template id is read. */
export function regIdTarget(): FuzzTarget<string> {
  const seeds = catalogIds()
    .filter((_, i) => i % 5 === 0)
    .flatMap((id) => [formatId(id), id.toString(), formatId(id).slice(2)]);
  return {
    name: "reg-id",
    seeds,
    mutate: (r, base, other) => mutateText(r, base, other, NAME_JUNK),
    read: (text) => {
      const id = parseId(text);
      return { id, decoded: decodeId(id) };
    },
    rejection: (e) => (e instanceof RegIdError ? "reg" : undefined),
    verify: (doc) => {
      const { id, decoded } = doc as { id: bigint; decoded: ReturnType<typeof decodeId> };
      if (encodeDecoded(decoded) !== id || describeId(id).id !== formatId(id))
        throw new Error("the decoded id does not encode back");
    },
  };
}

/** The kind of a FirecrackerFileError, from its wording (readFirecrackerEvidence's, profileFromFirecracker's). */
function firecrackerRejection(message: string): string {
  if (/: not JSON \(/.test(message)) return "syntax";
  if (/: larger than \d+ bytes/.test(message)) return "size";
  if (/: not a Firecracker /.test(message)) return "schema";
  if (/\.(addr|bitmap): |kvm_capabilities\[\d+\]: /.test(message)) return "value";
  if (
    /leaves bits to KVM|it sets (vcpu_features|kvm_capabilities)|no reg_modifiers|every dump leaves out/.test(
      message,
    )
  )
    return "not-a-dump";
  return "other";
}

/**
 * A fingerprint's guest_cpu_config: what `template dump` writes. With `ends`, only the first and last
 * `ends` registers (the U32 registers sort first, the U128 V-registers last).
 */
function templateDumpOf(fingerprint: string, ends?: number): string {
  const t = (JSON.parse(fingerprint) as { guest_cpu_config: { reg_modifiers: unknown[] } }).guest_cpu_config;
  const regs = ends ? [...t.reg_modifiers.slice(0, ends), ...t.reg_modifiers.slice(-ends)] : t.reg_modifiers;
  return JSON.stringify({ ...t, reg_modifiers: regs }, null, 2);
}

/**
 * Firecracker fingerprint and template dumps to host profiles (guestabi import): readFirecrackerEvidence
 * then profileFromFirecracker (a template dump with a --release), each FirecrackerFileError; an
 * accepted one must be a valid profile that survives a write-read round trip.
 */
export function firecrackerImportTarget(): FuzzTarget<string> {
  const fingerprints = FINGERPRINT_FIXTURES.map((f) => f.text);
  return {
    name: "firecracker-import",
    // A dump of a few registers (U32, U64 and U128 among them) keeps some mutants quick to read.
    seeds: [...fingerprints, templateDumpOf(fingerprints[0]!, 20), templateDumpOf(fingerprints[8]!)],
    mutate: mutateJsonText,
    read: (text) => {
      const evidence = readFirecrackerEvidence(text, "f.json");
      return profileFromFirecracker(evidence, {
        source: "f.json",
        ...(evidence.kind === "template" ? { release: "6.1.0-31-arm64" } : {}),
        now: NOW,
        toolVersion: "fuzz",
      });
    },
    rejection: (e) => (e instanceof FirecrackerFileError ? firecrackerRejection(e.message) : undefined),
    verify: (doc) => roundTrips(doc, (p) => readProfile(serializeProfile(p as HostProfile))),
  };
}

/** Every target, seeded. */
export function allTargets(s: Seeds = makeSeeds()): FuzzTarget[] {
  const snaps = sampleSnapshots(1);
  return [
    profileTarget(s),
    templateTarget(s),
    restoreTrialTarget(s),
    snapshotBinaryTarget(snaps),
    snapshotJsonTarget(snaps),
    fleetTarget(),
    apiBodyTarget(s, snaps[0]!),
    storedProfileHeadTarget(s),
    regNameTarget(),
    regIdTarget(),
    firecrackerImportTarget(),
    qemuStreamTarget(qemuFuzzSeeds()),
    firecrackerSnapshotTarget(),
    cloudHypervisorStateTarget(),
  ] as FuzzTarget[];
}
