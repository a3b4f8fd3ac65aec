/**
 * guestabi serve as a user runs it: started as a child on a free port (--port 0), its URL read from
 * the line it prints, asked over HTTP, stopped by SIGTERM or SIGINT (exit 0, nothing on stderr). Changes
 * need the token (GUESTABI_TOKEN or --token-file); bad input is one line and exit 2 before anything is
 * served.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { simInventory } from "../serve/testing/sim-inventory.js";
import { CLI, guestabi } from "./testing.js";

const TOKEN = "e2e-serve-token-0123456789";
/** An empty GUESTABI_TOKEN is none, whatever the environment the tests run in holds. */
const NO_TOKEN = { GUESTABI_TOKEN: "" };

interface Running {
  child: ChildProcessWithoutNullStreams;
  /** The line `guestabi serve` printed. */
  line: string;
  url: string;
  /** Its exit code and what it wrote to stderr, once it has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

const children: ChildProcessWithoutNullStreams[] = [];

/** Starts `guestabi serve ARGS` and waits for its line; rejects with its stderr if it exits first. */
function startServe(args: string[], env: Record<string, string> = {}): Promise<Running> {
  const child = spawn(process.execPath, [CLI, "serve", ...args], {
    env: { ...process.env, ...NO_TOKEN, ...env },
  });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>(
    (resolve) => child.on("close", (code, signal) => resolve({ code, signal, stderr })),
  );
  return new Promise((resolve, reject) => {
    const onData = () => {
      const end = stdout.indexOf("\n");
      if (end < 0) return;
      child.stdout.off("data", onData);
      const line = stdout.slice(0, end);
      const url = /^guestabi serve: (http:\/\/\S+\/) /.exec(line)?.[1];
      if (url) resolve({ child, line, url, exited });
      else reject(new Error(`unexpected first line: ${line}`));
    };
    child.stdout.on("data", onData);
    void exited.then((r) => reject(new Error(`guestabi serve exited ${r.code}: ${r.stderr}`)));
  });
}

async function call(url: string, method: string, route: string, body?: unknown, token?: string) {
  const res = await fetch(new URL(`api/v1${route}`, url), {
    method,
    headers: {
      "Content-Type": "application/json",
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A refusal: exit 2, one line on stderr, nothing on stdout. Returns the line. */
function refused(args: string[], env: Record<string, string> = NO_TOKEN): string {
  const r = guestabi(["serve", ...args], undefined, env);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^guestabi: [^\n]+\n$/);
  return r.stderr.slice("guestabi: ".length, -1);
}

describe("guestabi serve", () => {
  let dir = "";
  let db = "";
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "guestabi-serve-e2e-"));
    db = path.join(dir, "fleet.db");
    await (await simInventory(db)).close();
  });
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("prints its URL, answers the API, refuses a change without the token, stops on SIGTERM", async () => {
    const s = await startServe(["--db", db, "--port", "0"], { GUESTABI_TOKEN: TOKEN });
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:[1-9]\d*\/$/);
    assert.equal(s.line, `guestabi serve: ${s.url} (db: ${db})`);

    const groups = await call(s.url, "GET", "/groups");
    assert.equal(groups.status, 200);
    assert.deepEqual(
      (groups.body.groups as { group: string; hosts: number; vms: number }[]).map((g) => [
        g.group,
        g.hosts,
        g.vms,
      ]),
      [
        ["edge-a72", 2, 6],
        ["edge-n1", 2, 5],
        ["stable-a72", 2, 2],
        ["stable-n1", 1, 1],
      ],
    );
    const change = { vms: ["web-1"] };
    assert.deepEqual(await call(s.url, "DELETE", "/vms", change), {
      status: 401,
      body: { error: "changes need the server's bearer token (Authorization: Bearer TOKEN)" },
    });
    assert.equal((await call(s.url, "DELETE", "/vms", change, "not-the-token-0123456789")).status, 401);
    assert.deepEqual(await call(s.url, "DELETE", "/vms", change, TOKEN), { status: 200, body: { vms: 1 } });

    s.child.kill("SIGTERM");
    assert.deepEqual(await s.exited, { code: 0, signal: null, stderr: "" });
  });

  it("without a token: read-only, changes are 403; --token-file allows them; SIGINT stops it", async () => {
    const ro = await startServe(["--db", db, "--port", "0"]);
    assert.equal(ro.line, `guestabi serve: ${ro.url} (db: ${db}; read-only)`);
    assert.deepEqual(await call(ro.url, "DELETE", "/vms", { vms: ["web-2"] }, TOKEN), {
      status: 403,
      body: {
        error: "this server is read-only: start it with --token-file FILE or GUESTABI_TOKEN to allow changes",
      },
    });
    ro.child.kill("SIGINT");
    assert.deepEqual(await ro.exited, { code: 0, signal: null, stderr: "" });

    const tokenFile = path.join(dir, "token");
    fs.writeFileSync(tokenFile, `${TOKEN}\n`);
    const rw = await startServe(["--db", db, "--port", "0", "--token-file", tokenFile]);
    assert.deepEqual(await call(rw.url, "DELETE", "/vms", { vms: ["web-2"] }, TOKEN), {
      status: 200,
      body: { vms: 1 },
    });
    rw.child.kill("SIGTERM");
    assert.equal((await rw.exited).code, 0);
  });

  it("bad input: one line, exit 2, nothing served", async () => {
    assert.equal(refused(["--port", "70000"]), "bad --port '70000' (0..65535; 0: a free port)");
    assert.equal(
      refused(["--host", "example.com"]),
      "bad --host 'example.com' (an IP address such as 127.0.0.1 or ::1, or localhost)",
    );
    assert.equal(
      refused(["--db", db, "--port", "0"], { GUESTABI_TOKEN: "short" }),
      "the serve token is too short (at least 16 characters)",
    );
    assert.equal(
      refused(["--db", db, "--port", "0", "--token-file", path.join(dir, "nowhere")]),
      `cannot read ${path.join(dir, "nowhere")}: ENOENT`,
    );
    const missing = path.join(dir, "missing.db");
    assert.match(refused(["--db", missing, "--port", "0"]), new RegExp(`^no inventory at ${missing}`));
    assert.equal(fs.existsSync(missing), false);

    const first = await startServe(["--db", db, "--port", "0"]);
    const port = new URL(first.url).port;
    assert.equal(
      refused(["--db", db, "--port", port]),
      `cannot listen on 127.0.0.1 port ${port}: EADDRINUSE`,
    );
    first.child.kill("SIGTERM");
    assert.equal((await first.exited).code, 0);
  });
});
