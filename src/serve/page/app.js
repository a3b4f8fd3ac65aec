// guestabi serve: the dashboard. Plain JS and SVG, no build step, nothing from another origin. Every
// text that comes from the API goes into the page as text (textContent), never as markup.

const API = "/api/v1";
const SVG = "http://www.w3.org/2000/svg";

/** A colour per rollout policy (rollout.ts ROLLOUT_POLICIES); a policy's changes are its colour, lighter. */
const POLICY_COLOURS = {
  "as-described": "#cb4335",
  "host-defaults": "#8e44ad",
  "qemu-compat": "#2874a6",
  "pair-baseline": "#17a589",
  "fleet-baseline": "#b9770e",
};
const CHANGES_OPACITY = 0.35;

const STATUS_TEXT = {
  breaks: "breaks",
  "guest-view-changes": "guest sees a change",
  safe: "safe",
  "cannot-start": "cannot start",
};

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c);
  return e;
}

/** An SVG element with attributes (and text). */
function s(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** GET an API path; the API's one-line error as the Error's message. */
async function getJson(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== "" && v !== undefined));
  const res = await fetch(`${API}${path}${query.size ? `?${query}` : ""}`, {
    headers: { Accept: "application/json" },
  });
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }));
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

const num = (n) => Number(n).toLocaleString("en");

/** A table: headers, rows of cells (a cell is text, a number, or a node); `numeric`: right-aligned columns. */
function table(headers, rows, numeric = []) {
  const cls = (i) => (numeric.includes(i) ? "num" : undefined);
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((t, i) => h("th", { class: cls(i), scope: "col" }, t)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          {},
          r.map((c, i) =>
            typeof c === "number"
              ? h("td", { class: c === 0 ? "num zero" : "num" }, num(c))
              : h("td", { class: cls(i) }, c),
          ),
        ),
      ),
    ),
  );
}

function fillSelect(select, options, selected) {
  select.replaceChildren(...options.map(([value, label]) => h("option", { value }, label)));
  if (selected !== undefined) select.value = selected;
}

/** "6.1" of "6.1.0-31-arm64" (the kernel generation), or the text itself. */
const generation = (kernel) => /^\d+\.\d+/.exec(kernel)?.[0] ?? kernel;
const byVersion = (a, b) => {
  const [x, y] = [a, b].map((k) => generation(k).split(".").map(Number));
  return x[0] - y[0] || x[1] - y[1] || (a < b ? -1 : a > b ? 1 : 0);
};

function showError(where, e) {
  where.replaceChildren(h("p", { class: "error", role: "alert" }, e.message));
}

// ---- the fleet: hosts and VMs by kernel and CPU ---------------------------------------------------------

const NO_CPU = "(no CPU label)";

/** One cell of the grid: hosts, VMs and groups of a kernel release and CPU (data-* for tests and tools). */
function fleetCell(release, cpu, cells) {
  const here = cells.filter((c) => c.release === release && (c.cpu ?? NO_CPU) === cpu);
  if (!here.length) return h("span", { class: "empty" }, "–");
  const hosts = here.reduce((n, c) => n + c.hosts, 0);
  const vms = here.reduce((n, c) => n + c.vms, 0);
  return h(
    "div",
    { class: "cell", "data-release": release, "data-cpu": cpu, "data-hosts": hosts, "data-vms": vms },
    h("span", { class: "hosts" }, `${num(hosts)} hosts`),
    h("span", { class: "vms" }, `${num(vms)} VMs`),
    h("span", { class: "groups" }, here.flatMap((c) => c.groups).join(", ")),
  );
}

function renderFleet(cells) {
  const releases = [...new Set(cells.map((c) => c.release))].sort(byVersion);
  const cpus = [...new Set(cells.map((c) => c.cpu ?? NO_CPU))].sort();
  const kernelOf = new Map(cells.map((c) => [c.release, c.kernel]));
  const total = (pick) => [pick.reduce((n, c) => n + c.hosts, 0), pick.reduce((n, c) => n + c.vms, 0)];
  const totalText = ([hosts, vms]) => `${num(hosts)} hosts, ${num(vms)} VMs`;
  const rows = releases.map((r) => [
    h("span", {}, h("strong", {}, kernelOf.get(r)), ` ${r === kernelOf.get(r) ? "" : r}`),
    ...cpus.map((cpu) => fleetCell(r, cpu, cells)),
    totalText(total(cells.filter((c) => c.release === r))),
  ]);
  rows.push([
    "all kernels",
    ...cpus.map((cpu) => totalText(total(cells.filter((c) => (c.cpu ?? NO_CPU) === cpu)))),
    totalText(total(cells)),
  ]);
  $("fleet-grid").replaceChildren(table(["kernel \\ CPU", ...cpus, "all CPUs"], rows));
}

// ---- baselines and what each group gives up ------------------------------------------------------------

function effectList(effects, none) {
  if (!effects.length) return none;
  return h(
    "ul",
    { class: "effects" },
    effects.map((e) => h("li", {}, e.text)),
  );
}

/** The baseline a group's VMs with a feature set are pinned to: its file and the kernels it spans. */
function baselineOf(b, cpu, config) {
  const found = b.baselines.find((x) => x.cpu === cpu && x.config === config);
  return found ? `${found.file} (kernels ${found.kernels.join(", ")})` : "none";
}

function renderBaselines(b) {
  const rows = b.giveUps.flatMap((g) =>
    g.byFeatures.map((f, i) => [
      i === 0 ? g.group : "",
      i === 0 ? g.kernels.join(", ") : "",
      i === 0 ? g.cpu : "",
      i === 0 ? g.hosts : "",
      f.features.join("+"),
      baselineOf(b, g.cpu, f.config),
      effectList(f.effects, "nothing the guest sees"),
    ]),
  );
  $("baseline-table").replaceChildren(
    table(
      ["group", "kernels", "CPU", "hosts", "vCPU features", "baseline", "pinned to it, the guest…"],
      rows,
      [3],
    ),
  );
}

// ---- "roll group G back to K" ----------------------------------------------------------------------------

function countBox(kind, n, label) {
  return h("div", { class: `count ${kind}`, "data-count": kind }, h("span", { class: "n" }, num(n)), label);
}

/** The VMs of an entry by name (the API lists at most its first 1000), then how many more. */
function vmNames(e) {
  const out = [];
  e.names.forEach((name, i) => out.push(i ? ", " : "", h("span", { class: "vm" }, name)));
  const more = e.count - e.names.length;
  if (more > 0) out.push(h("span", { class: "more" }, `${e.names.length ? ", " : ""}${num(more)} more`));
  return h("div", { class: "vm-names" }, out);
}

function entryRows(entries) {
  const affected = entries.filter((e) => e.status !== "safe");
  return affected.map((e) => [
    vmNames(e),
    e.count,
    h("span", { class: `status ${e.status}` }, STATUS_TEXT[e.status] ?? e.status),
    `${e.from} → ${e.to}${e.simulated ? " (simulated)" : ""}`,
    e.vmm,
    e.effects.length ? effectList(e.effects) : e.why,
  ]);
}

function renderImpact(r, plan) {
  const c = r.counts;
  const out = [
    h(
      "p",
      { id: "impact-summary" },
      `${r.rollback.group}: ${num(r.rollback.hosts)} hosts from ${r.rollback.from.join(", ")} back to ${r.rollback.to}, ${num(c.vms)} VMs (${num(r.unaffected)} VMs of other groups unaffected)`,
    ),
    h(
      "div",
      { class: "counts" },
      countBox("breaks", c.breaks, "break"),
      countBox("cannotStart", c.cannotStart, "cannot start"),
      countBox("guestViewChanges", c.guestViewChanges, "guest sees a change"),
      countBox("safe", c.safe, "unchanged"),
    ),
  ];
  const rollback = plan.rollbacks[0];
  if (rollback) out.push(h("p", { class: "pinned-note", id: "recommendation" }, rollback.recommendation));
  const rows = entryRows(r.entries);
  out.push(
    rows.length
      ? table(["VMs", "count", "status", "kernel", "VMM", "what the guest sees, or why"], rows, [1])
      : h("p", { class: "hint" }, "No VM of the group breaks or sees a change."),
  );
  $("impact").replaceChildren(...out);
}

async function showImpact(event) {
  event.preventDefault();
  const form = new FormData($("rollback-form"));
  const params = Object.fromEntries(form);
  const button = $("rollback-go");
  button.disabled = true;
  $("impact").setAttribute("aria-busy", "true");
  $("impact").replaceChildren(h("p", { class: "hint" }, "computing…"));
  try {
    // Both asked at once; the impact's error, if any, is the one shown.
    const plan = getJson("/plan", { group: params.group, to: params.to, vmm: params.vmm });
    plan.catch(() => {});
    const impact = await getJson("/impact", params);
    renderImpact(impact, await plan);
  } catch (e) {
    showError($("impact"), e);
  } finally {
    $("impact").setAttribute("aria-busy", "false");
    button.disabled = false;
  }
}

// ---- the rollout: policies side by side per wave -----------------------------------------------------------

const stepText = (st) =>
  st.kind === "upgrade"
    ? `upgrade wave ${st.wave}`
    : st.wave === 1
      ? "roll back wave 1"
      : `roll back waves 1–${st.wave}`;

/** Round tick steps (1, 2, 5 x 10^n) up to `max`. */
function ticks(max) {
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((x) => x >= raw);
  const out = [];
  for (let t = 0; t <= max + step / 2; t += step) out.push(Math.round(t));
  if (out.at(-1) < max) out.push(out.at(-1) + step);
  return out;
}

/** Grouped bars: per step, a bar per policy; solid = VMs that break, lighter above = VMs whose guest sees a change. */
function rolloutChart(r) {
  const policies = r.policies.map((p) => p.policy);
  const [width, height, left, right, top, bottom] = [1080, 280, 56, 8, 14, 40];
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const total = (c) => c.breaks + c.changes;
  const max = Math.max(1, ...r.steps.flatMap((st) => policies.map((p) => total(st.byPolicy[p]))));
  const yTicks = ticks(max);
  const yMax = yTicks.at(-1);
  const y = (v) => top + plotH - (v / yMax) * plotH;
  const svg = s("svg", {
    id: "rollout-svg",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `VMs that break or see a change, per step of the rollout to ${r.to}, per policy`,
  });
  for (const t of yTicks) {
    svg.append(s("line", { x1: left, x2: width - right, y1: y(t), y2: y(t), stroke: "#e3e7ee" }));
    svg.append(
      s("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end", "font-size": 11, fill: "#5c6678" }, num(t)),
    );
  }
  svg.append(
    s(
      "text",
      {
        x: 12,
        y: top + plotH / 2,
        transform: `rotate(-90 12 ${top + plotH / 2})`,
        "text-anchor": "middle",
        "font-size": 12,
        fill: "#5c6678",
      },
      "VMs",
    ),
  );
  const groupW = plotW / r.steps.length;
  const barW = Math.min(24, (groupW - 14) / policies.length);
  r.steps.forEach((st, i) => {
    const x0 = left + i * groupW + (groupW - barW * policies.length) / 2;
    policies.forEach((p, j) => {
      const c = st.byPolicy[p];
      const x = x0 + j * barW;
      const bar = s("g", { "data-policy": p, "data-step": i });
      bar.append(
        s(
          "title",
          {},
          `${stepText(st)}, ${p}: ${num(c.breaks)} break, ${num(c.changes)} see a change, ${num(c.split)} cannot migrate between old and new hosts`,
        ),
      );
      if (c.breaks)
        bar.append(
          s("rect", {
            x,
            y: y(c.breaks),
            width: barW - 2,
            height: y(0) - y(c.breaks),
            fill: POLICY_COLOURS[p],
          }),
        );
      if (c.changes)
        bar.append(
          s("rect", {
            x,
            y: y(total(c)),
            width: barW - 2,
            height: y(c.breaks) - y(total(c)),
            fill: POLICY_COLOURS[p],
            "fill-opacity": CHANGES_OPACITY,
          }),
        );
      svg.append(bar);
    });
    svg.append(
      s(
        "text",
        {
          class: "step",
          x: left + (i + 0.5) * groupW,
          y: height - bottom + 18,
          "text-anchor": "middle",
          "font-size": 12,
          fill: "#1d2433",
        },
        stepText(st),
      ),
    );
    svg.append(
      s(
        "text",
        {
          x: left + (i + 0.5) * groupW,
          y: height - bottom + 33,
          "text-anchor": "middle",
          "font-size": 11,
          fill: "#5c6678",
        },
        `${num(st.hosts)} hosts, ${num(st.vms)} VMs`,
      ),
    );
  });
  svg.append(s("line", { x1: left, x2: width - right, y1: y(0), y2: y(0), stroke: "#1d2433" }));
  return svg;
}

function swatch(colour, opacity = 1) {
  const icon = s("svg", { width: 12, height: 12, class: "swatch" });
  icon.append(s("rect", { width: 12, height: 12, fill: colour, "fill-opacity": opacity }));
  return icon;
}

function renderRollout(r) {
  const legend = h(
    "div",
    { class: "legend" },
    r.policies.map((p) => h("span", {}, swatch(POLICY_COLOURS[p.policy]), p.policy)),
    h("span", {}, swatch("#5c6678"), "solid: break"),
    h("span", {}, swatch("#5c6678", CHANGES_OPACITY), "lighter: guest sees a change"),
  );
  const totals = table(
    ["policy", "VMs that break", "VMs that see a change"],
    r.policies.map((p) => [p.text, r.totals[p.policy].breaks, r.totals[p.policy].changes]),
    [1, 2],
  );
  $("rollout-chart").replaceChildren(
    h("p", { class: "pinned-note", id: "rollout-recommendation" }, r.recommendation.text),
    legend,
    rolloutChart(r),
    h(
      "p",
      { class: "hint" },
      `${num(r.onTarget.hosts)} hosts already on ${r.to} stay; upgrade, then roll back, in ${r.waves.length} waves.`,
    ),
    totals,
  );
}

async function showRollout(event) {
  event.preventDefault();
  const params = Object.fromEntries(new FormData($("rollout-form")));
  const button = $("rollout-go");
  button.disabled = true;
  $("rollout-chart").setAttribute("aria-busy", "true");
  $("rollout-chart").replaceChildren(h("p", { class: "hint" }, "computing…"));
  try {
    renderRollout(await getJson("/rollout", params));
  } catch (e) {
    showError($("rollout-chart"), e);
  } finally {
    $("rollout-chart").setAttribute("aria-busy", "false");
    button.disabled = false;
  }
}

// ---- start ------------------------------------------------------------------------------------------------

async function main() {
  const index = await getJson("");
  const [{ groups }, { cells }] = await Promise.all([getJson("/groups"), getJson("/fleet")]);
  const hosts = groups.reduce((n, g) => n + g.hosts, 0);
  const vms = groups.reduce((n, g) => n + g.vms, 0);
  $("summary").textContent = `${num(groups.length)} groups, ${num(hosts)} hosts, ${num(vms)} VMs; ${
    index.readOnly ? "read-only" : "changes allowed with the token"
  }`;
  $("db").textContent = `inventory: ${index.db}; guestabi API ${API}`;
  renderFleet(cells);
  fillSelect(
    $("group"),
    groups.map((g) => [g.group, `${g.group} (${g.kernels.join(", ")}, ${g.cpus.join(", ")})`]),
  );
  fillSelect(
    $("to"),
    index.kernels.map((k) => [k, k]),
  );
  fillSelect($("vmm"), [["", "each VM's own"], ...index.vmms.map((v) => [v, v])]);
  fillSelect(
    $("rollout-to"),
    index.kernels.map((k) => [k, k]),
    index.kernels.at(-1),
  );
  $("rollback-form").addEventListener("submit", showImpact);
  $("rollout-form").addEventListener("submit", showRollout);
  getJson("/baselines").then(renderBaselines, (e) => showError($("baseline-table"), e));
}

main().catch((e) => showError($("summary"), e));
