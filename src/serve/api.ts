/**
 * The JSON API of `guestabi serve` (under /api/v1), over an inventory (src/inventory) and the fleet
 * analysis (src/fleet: impact, plan, rollout), as route data for server.ts:
 *
 *   GET    /                      what the server offers: the database, read-only or not, kernels, VMMs
 *   GET    /groups                host groups: hosts, VMs, kernels, CPUs
 *   GET    /fleet                 hosts and VMs by kernel release and CPU, with their groups
 *   GET    /profiles              host profiles: release, CPU, hosts
 *   POST   /profiles              body: a host profile (guestabi-host-profile)
 *   GET    /hosts?group&limit&offset
 *   POST   /hosts                 body: {group, profile: HASH or a host profile, hosts: [NAME...]}
 *   DELETE /hosts                 body: {hosts: [NAME...], withVms?: true}
 *   GET    /vms?group&host&limit&offset
 *   POST   /vms                   body: {abi: HASH or an ABI, vmm?, vcpus?, vms: [{name, host}...]}
 *   DELETE /vms                   body: {vms: [NAME...]}
 *   GET    /baselines?vmm         the plan's baselines and what each group gives up
 *   GET    /impact?group&to&mode&vmm
 *   GET    /rollout?to&waves&vmm
 *   GET    /plan?group&to&vmm     (group and to: that one rollback; neither: the plan's own)
 *
 * The analyses answer in their JSON forms (the same as `guestabi impact|plan|rollout --json`); an
 * impact entry's `names` are its VMs' names (the first MAX_ENTRY_NAMES by name; `count` says how many
 * it covers). Every read and write goes through the inventory's parameterised methods; a problem with
 * what was asked is a 400 (404 for a name the inventory does not have), with the inventory's or
 * analysis's one line.
 */
import { z } from "zod";
import { FleetError } from "../fleet/fleet.js";
import { IMPACT_MODES, kernelLabel } from "../fleet/analysis.js";
import type { ImpactMode } from "../fleet/analysis.js";
import { impactOf, impactToJson } from "../fleet/impact.js";
import type { ImpactReport } from "../fleet/impact.js";
import { abiHash, profileHash } from "../fleet/model.js";
import type { FleetModel, StoredAbi } from "../fleet/model.js";
import { planOf, planToJson } from "../fleet/plan.js";
import { rolloutOf, rolloutToJson } from "../fleet/rollout.js";
import { ProfileError, readProfile } from "../formats/profile.js";
import type { HostProfile } from "../formats/profile.js";
import { SNAPSHOT_JSON_FORMAT, SnapshotFormatError, snapshotFromJson } from "../formats/snapshot.js";
import { TEMPLATE_JSON_FORMAT, TemplateFormatError, templateFromJson } from "../formats/template.js";
import { InventoryError } from "../inventory/store.js";
import type { Inventory } from "../inventory/store.js";
import { SIM_GENERATIONS } from "../kvm/sim/index.js";
import { VCPU_FEATURES, vcpuFeatures } from "../kvm/index.js";
import type { VcpuFeatureName } from "../kvm/index.js";
import { VMM_NAMES, vmmPolicy } from "../vmm/policies.js";
import { HttpError } from "./http.js";
import { route, wholeNumber } from "./router.js";
import type { Route } from "./router.js";

/** A page of a listing: at most MAX_PAGE rows. */
export const MAX_PAGE = 1000;
const DEFAULT_PAGE = 100;
/** The most hosts or VMs one request adds or removes. */
export const MAX_BATCH = 100_000;
const MAX_WAVES = 1000;
/** The most VM names an impact entry lists. */
export const MAX_ENTRY_NAMES = 1000;

/** Names are checked by the inventory; here only their type and a sane length. */
const Name = z.string().min(1).max(256);
const Kernel = z.string().min(1).max(128).describe("a simulator kernel, a kernel generation, or a release");
const Vmm = z.enum(VMM_NAMES as [string, ...string[]]);
const Paging = {
  limit: wholeNumber(1, MAX_PAGE).default(DEFAULT_PAGE),
  offset: wholeNumber(0, Number.MAX_SAFE_INTEGER).default(0),
};
const NoQuery = z.strictObject({});

const FEATURE_NAMES = Object.keys(VCPU_FEATURES) as [VcpuFeatureName, ...VcpuFeatureName[]];

/** An ABI in a body: the hash of one the inventory has, unpinned with features, a template, a snapshot. */
const AbiBody = z.union([
  z.string().regex(/^[0-9a-f]{64}$/, "an ABI hash (64 hex digits)"),
  z
    .strictObject({
      kind: z.literal("host-defaults"),
      features: z.array(z.enum(FEATURE_NAMES)).max(FEATURE_NAMES.length).default(["PSCI_0_2"]),
    })
    .transform((a): StoredAbi => ({ kind: "host-defaults", features: vcpuFeatures(...a.features) })),
  z
    .looseObject({ format: z.literal(TEMPLATE_JSON_FORMAT) })
    .transform((doc) => abiDocument(() => ({ kind: "template", template: templateFromJson(doc) }))),
  z
    .looseObject({ format: z.literal(SNAPSHOT_JSON_FORMAT) })
    .transform((doc) => abiDocument(() => ({ kind: "snapshot", snapshot: snapshotFromJson(doc) }))),
]);

/** A template or snapshot checked by its own reader: its format error is a 400 about the body's abi. */
function abiDocument(read: () => StoredAbi): StoredAbi {
  try {
    return read();
  } catch (e) {
    if (e instanceof TemplateFormatError || e instanceof SnapshotFormatError)
      throw new HttpError(400, `bad request body at abi: ${e.message}`);
    throw e;
  }
}

const ProfileBody = z.union([
  z.string().regex(/^[0-9a-f]{64}$/, "a profile hash (64 hex digits)"),
  z.looseObject({ format: z.string() }).transform(bodyProfile),
]);

/** A host profile in a body, read as `readProfile` reads a file: its error is a 400. */
function bodyProfile(doc: object): HostProfile {
  try {
    return profileOf(doc, "profile");
  } catch (e) {
    if (e instanceof ProfileError) throw new HttpError(400, e.message);
    throw e;
  }
}

const HostsPost = z.strictObject({
  group: Name,
  profile: ProfileBody,
  hosts: z.array(Name).min(1).max(MAX_BATCH),
});
const HostsDelete = z.strictObject({
  hosts: z.array(Name).min(1).max(MAX_BATCH),
  withVms: z.boolean().default(false),
});
const VmsPost = z.strictObject({
  abi: AbiBody,
  vmm: Vmm.default("guestabi"),
  vcpus: z.int().min(1).max(512).default(1),
  vms: z
    .array(z.strictObject({ name: Name, host: Name }))
    .min(1)
    .max(MAX_BATCH),
});
const VmsDelete = z.strictObject({ vms: z.array(Name).min(1).max(MAX_BATCH) });

/** A body checked by `schema`: 400 naming where the first problem is. */
function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const where = issue.path.map((p) => (typeof p === "number" ? `[${p}]` : `.${String(p)}`)).join("");
  const what =
    issue.code === "unrecognized_keys"
      ? // escaped as in JSON: a key with a line break stays one line
        `unknown key '${JSON.stringify(String(issue.keys[0]).slice(0, 40)).slice(1, -1)}'`
      : issue.message;
  throw new HttpError(400, `bad request body${where ? ` at ${where.replace(/^\./, "")}` : ""}: ${what}`);
}

/** The changing routes' bodies, each by its schema. */
const BODY_SCHEMAS = {
  "POST /hosts": HostsPost,
  "DELETE /hosts": HostsDelete,
  "POST /vms": VmsPost,
  "DELETE /vms": VmsDelete,
};
export type BodyRoute = keyof typeof BODY_SCHEMAS;
/** The checked body of each changing route. */
export type RequestBody = { [R in BodyRoute]: z.output<(typeof BODY_SCHEMAS)[R]> };

/**
 * A changing route's JSON body (as readJsonBody parsed it) checked by the route's schema, as its
 * handler checks it: the typed body, or HttpError 400 naming where the first problem is. A host
 * profile given in a POST /hosts body is read later, by readProfile.
 */
export function checkRequestBody<R extends BodyRoute>(route: R, body: unknown): RequestBody[R] {
  return parseBody(BODY_SCHEMAS[route] as z.ZodType, body) as RequestBody[R];
}

/** The inventory's and the fleet's "no group 'G' in ..." (and host, VM, profile HASH, ABI HASH). */
const MISSING_NAME = /^no (?:(?:group|host|VM) '|(?:profile|ABI) [0-9a-f]{64} )/;

/**
 * A problem with what was asked, as the HTTP error it is: a name the inventory or fleet does not have
 * is 404, any other bad input 400. Anything else is the server's own (500, server.ts).
 */
function asHttpError(e: unknown): unknown {
  if (e instanceof InventoryError || e instanceof FleetError || e instanceof ProfileError)
    return new HttpError(MISSING_NAME.test(e.message) ? 404 : 400, e.message);
  return e;
}

async function answering<T>(fn: () => Promise<T> | T): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asHttpError(e);
  }
}

/** A host profile document from a body (checked as `readProfile` checks a file). */
function profileOf(doc: object, where: string): HostProfile {
  let text: string;
  try {
    text = JSON.stringify(doc);
  } catch (e) {
    // JSON.parse reads nests deeper than JSON.stringify writes again (the stack runs out).
    if (e instanceof RangeError) throw new ProfileError(`${where}: nested too deeply`);
    throw e;
  }
  return readProfile(text, where);
}

/**
 * The inventory's fleet model, reloaded for each question (the inventory may change under the server:
 * another `guestabi inventory` writes it) but kept as the same object while its content is the same,
 * so that the analysis's caches (one per model object) carry over from one request to the next.
 */
export class ModelSource {
  private last?: { key: string; model: FleetModel; indexed?: FleetModel };

  constructor(private readonly inventory: Inventory) {}

  async current(): Promise<FleetModel> {
    return (await this.load()).model;
  }

  /**
   * The current model with each VM count named by its index in vmCounts: an impact entry's names then
   * say which counts it covers (impactOf collects the names of the counts it puts in an entry).
   */
  async indexed(): Promise<FleetModel> {
    const last = await this.load();
    last.indexed ??= {
      ...last.model,
      vmCounts: last.model.vmCounts.map((v, i) => ({ ...v, name: String(i) })),
    };
    return last.indexed;
  }

  private async load(): Promise<{ key: string; model: FleetModel; indexed?: FleetModel }> {
    const model = await this.inventory.model();
    // Profiles and ABIs are named by content hash: the counts say everything that can differ.
    const key = JSON.stringify([model.hostCounts, model.vmCounts]);
    if (this.last?.key !== key) this.last = { key, model };
    return this.last;
  }
}

/** One cell of the fleet grid: the hosts of one kernel release and CPU, and the VMs on them. */
export interface FleetCell {
  release: string;
  /** The kernel as the analysis names it (kernelLabel: "7.2" for the simulator's 7.2.0-sim-arm64). */
  kernel: string;
  cpu: string | null;
  hosts: number;
  vms: number;
  groups: string[];
}

/** Hosts and VMs by kernel release and CPU label, sorted by release then CPU. */
export function fleetGrid(model: FleetModel): FleetCell[] {
  const cells = new Map<string, { cell: FleetCell; groups: Set<string> }>();
  const cellOf = (profile: string) => {
    const p = model.profiles.get(profile)!;
    const key = JSON.stringify([p.host.release, p.host.cpuLabel]);
    let c = cells.get(key);
    if (!c) {
      const cell = {
        release: p.host.release,
        kernel: kernelLabel(p),
        cpu: p.host.cpuLabel,
        hosts: 0,
        vms: 0,
        groups: [],
      };
      cells.set(key, (c = { cell, groups: new Set() }));
    }
    return c;
  };
  for (const h of model.hostCounts) {
    const c = cellOf(h.profile);
    c.cell.hosts += h.hosts;
    c.groups.add(h.group);
  }
  for (const v of model.vmCounts) cellOf(v.profile).cell.vms += v.vms;
  const order = (a: FleetCell, b: FleetCell) =>
    a.release < b.release ? -1 : a.release > b.release ? 1 : (a.cpu ?? "").localeCompare(b.cpu ?? "");
  return [...cells.values()].map((c) => ({ ...c.cell, groups: [...c.groups].sort() })).sort(order);
}

/**
 * An impact report of the indexed model (ModelSource.indexed) with each entry's names the names of its
 * VMs: the group's VMs, each matched to its count by host profile, ABI, VMM and vCPUs. A VM added since
 * the model was read matches no count and is left out.
 */
async function withVmNames(
  inventory: Inventory,
  indexed: FleetModel,
  r: ImpactReport,
): Promise<ImpactReport> {
  const tuple = (profile: string, abi: string, vmm: string, vcpus: number) =>
    JSON.stringify([profile, abi, vmm, vcpus]);
  const entryOf = new Map<string, number>();
  r.entries.forEach((e, i) => {
    for (const name of e.names) {
      const v = indexed.vmCounts[Number(name)]!;
      entryOf.set(tuple(v.profile, v.abi, v.vmm, v.vcpus), i);
    }
  });
  const group = r.rollback.group;
  const [hosts, vms] = await Promise.all([inventory.listHosts({ group }), inventory.listVms({ group })]);
  const profileOf = new Map(hosts.map((h) => [h.name, h.profile]));
  const names = r.entries.map((): string[] => []);
  for (const vm of vms) {
    const i = entryOf.get(tuple(profileOf.get(vm.host) ?? "", vm.abi, vm.vmm, vm.vcpus));
    if (i !== undefined && names[i]!.length < MAX_ENTRY_NAMES) names[i]!.push(vm.name);
  }
  return { ...r, entries: r.entries.map((e, i) => ({ ...e, names: names[i]! })) };
}

export interface ApiOptions {
  /** The database as the page shows it (the inventory's source). */
  db: string;
  /** Whether changes are refused (no token configured). */
  readOnly: boolean;
}

/** The API's routes over `inventory`. */
export function apiRoutes(inventory: Inventory, o: ApiOptions): Route[] {
  const models = new ModelSource(inventory);
  const vmm = (name: string | undefined) => (name === undefined ? {} : { vmm: vmmPolicy(name) });
  return [
    route({
      method: "GET",
      path: "/",
      query: NoQuery,
      handle: async () => ({
        body: {
          name: "guestabi",
          api: 1,
          db: o.db,
          readOnly: o.readOnly,
          kernels: SIM_GENERATIONS,
          modes: IMPACT_MODES,
          vmms: VMM_NAMES,
          maxPage: MAX_PAGE,
        },
      }),
    }),
    route({
      method: "GET",
      path: "/groups",
      query: NoQuery,
      handle: () => answering(async () => ({ body: { groups: await inventory.listGroups() } })),
    }),
    route({
      method: "GET",
      path: "/fleet",
      query: NoQuery,
      handle: () => answering(async () => ({ body: { cells: fleetGrid(await models.current()) } })),
    }),
    route({
      method: "GET",
      path: "/profiles",
      query: NoQuery,
      handle: () => answering(async () => ({ body: { profiles: await inventory.profiles() } })),
    }),
    route({
      method: "POST",
      path: "/profiles",
      query: NoQuery,
      changes: true,
      handle: ({ body }) =>
        answering(async () => {
          if (typeof body !== "object" || body === null || Array.isArray(body))
            throw new HttpError(400, "bad request body: a host profile (guestabi-host-profile) object");
          const p = profileOf(body, "profile");
          const hash = await inventory.addProfile(p);
          return { status: 201, body: { profile: hash, release: p.host.release, cpu: p.host.cpuLabel } };
        }),
    }),
    route({
      method: "GET",
      path: "/hosts",
      query: z.strictObject({ group: Name.optional(), ...Paging }),
      handle: ({ query }) =>
        answering(async () => ({
          body: { hosts: await inventory.listHosts(query), limit: query.limit, offset: query.offset },
        })),
    }),
    route({
      method: "POST",
      path: "/hosts",
      query: NoQuery,
      changes: true,
      handle: ({ body }) =>
        answering(async () => {
          const b = parseBody(HostsPost, body);
          const given = typeof b.profile === "string" ? undefined : b.profile;
          const hash = given ? profileHash(given) : (b.profile as string);
          // One transaction: the profile and its hosts, or nothing.
          const done = await inventory.add({
            profiles: given ? [given] : [],
            hosts: b.hosts.map((name) => ({ name, group: b.group, profile: hash })),
          });
          return { status: 201, body: { profile: hash, hosts: done.hosts } };
        }),
    }),
    route({
      method: "DELETE",
      path: "/hosts",
      query: NoQuery,
      changes: true,
      handle: ({ body }) =>
        answering(async () => {
          const b = parseBody(HostsDelete, body);
          return { body: await inventory.removeHosts(b.hosts, { withVms: b.withVms }) };
        }),
    }),
    route({
      method: "GET",
      path: "/vms",
      query: z.strictObject({ group: Name.optional(), host: Name.optional(), ...Paging }),
      handle: ({ query }) =>
        answering(async () => ({
          body: { vms: await inventory.listVms(query), limit: query.limit, offset: query.offset },
        })),
    }),
    route({
      method: "POST",
      path: "/vms",
      query: NoQuery,
      changes: true,
      handle: ({ body }) =>
        answering(async () => {
          const b = parseBody(VmsPost, body);
          const abi = b.abi;
          const hash = typeof abi === "string" ? abi : abiHash(abi);
          // One transaction: the ABI and its VMs, or nothing.
          const done = await inventory.add({
            abis: typeof abi === "string" ? [] : [abi],
            vms: b.vms.map((v) => ({ name: v.name, host: v.host, abi: hash, vmm: b.vmm, vcpus: b.vcpus })),
          });
          return { status: 201, body: { abi: hash, vms: done.vms } };
        }),
    }),
    route({
      method: "DELETE",
      path: "/vms",
      query: NoQuery,
      changes: true,
      handle: ({ body }) =>
        answering(async () => ({ body: await inventory.removeVms(parseBody(VmsDelete, body).vms) })),
    }),
    route({
      method: "GET",
      path: "/baselines",
      query: z.strictObject({ vmm: Vmm.optional() }),
      handle: ({ query }) =>
        answering(async () => {
          const plan = planToJson(planOf(await models.current(), { rollbacks: [], ...vmm(query.vmm) })) as {
            fleet: unknown;
            baselines: unknown;
            giveUps: unknown;
          };
          return {
            body: {
              format: "guestabi-baselines",
              fleet: plan.fleet,
              baselines: plan.baselines,
              giveUps: plan.giveUps,
            },
          };
        }),
    }),
    route({
      method: "GET",
      path: "/impact",
      query: z.strictObject({
        group: Name,
        to: Kernel,
        mode: z.enum(IMPACT_MODES as [ImpactMode, ...ImpactMode[]]).default("as-described"),
        vmm: Vmm.optional(),
      }),
      handle: ({ query }) =>
        answering(async () => {
          const indexed = await models.indexed();
          const r = impactOf(indexed, {
            group: query.group,
            to: query.to,
            mode: query.mode,
            ...vmm(query.vmm),
          });
          return { body: impactToJson(await withVmNames(inventory, indexed, r)) };
        }),
    }),
    route({
      method: "GET",
      path: "/rollout",
      query: z.strictObject({ to: Kernel, waves: wholeNumber(1, MAX_WAVES), vmm: Vmm.optional() }),
      handle: ({ query }) =>
        answering(async () => {
          const r = rolloutOf(await models.current(), {
            to: query.to,
            waves: query.waves,
            ...vmm(query.vmm),
          });
          return { body: rolloutToJson(r) };
        }),
    }),
    route({
      method: "GET",
      path: "/plan",
      query: z
        .strictObject({ group: Name.optional(), to: Kernel.optional(), vmm: Vmm.optional() })
        .refine((q) => (q.group === undefined) === (q.to === undefined), {
          message: "group and to go together (one rollback), or neither (the plan's own)",
          path: ["to"],
        }),
      handle: ({ query }) =>
        answering(async () => {
          const rollbacks =
            query.group && query.to ? { rollbacks: [{ group: query.group, to: query.to }] } : {};
          return { body: planToJson(planOf(await models.current(), { ...rollbacks, ...vmm(query.vmm) })) };
        }),
    }),
  ];
}
