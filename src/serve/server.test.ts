import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { z } from "zod";
import { BearerToken } from "./token.js";
import { route, wholeNumber } from "./router.js";
import { startServer } from "./server.js";
import type { RunningServer } from "./server.js";

const TOKEN = "s3cret-token-0123456789";

/** Two routes that echo what they were given, to test the server's handling around them. */
const received: unknown[] = [];
const routes = [
  route({
    method: "GET",
    path: "/items",
    query: z.strictObject({ limit: wholeNumber(1, 1000).optional(), name: z.string().optional() }),
    handle: async ({ query }) => ({ body: { query } }),
  }),
  route({
    method: "POST",
    path: "/items",
    query: z.strictObject({}),
    changes: true,
    handle: async ({ body }) => {
      received.push(body);
      return { status: 201, body: { received: body } };
    },
  }),
  route({
    method: "GET",
    path: "/fails",
    query: z.strictObject({}),
    handle: async () => {
      throw new Error("disk on fire\n    at secret (/src/x.ts:1:1)");
    },
  }),
];
const page = new Map([["/", { type: "text/html; charset=utf-8", body: Buffer.from("<p>page</p>") }]]);

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with node:http (fetch would not send a Host header of our choosing). */
function call(
  server: RunningServer,
  method: string,
  path: string,
  opts: { body?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: server.port, method, path, headers: opts.headers ?? {}, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }),
        );
      },
    );
    // The server may answer (413) and close before the whole body is sent.
    req.on("error", (e: NodeJS.ErrnoException) => (e.code === "EPIPE" ? undefined : reject(e)));
    req.end(opts.body);
  });
}

const json = (r: Reply): unknown => JSON.parse(r.body);
const post = (body: string, headers: Record<string, string> = {}) => ({
  body,
  headers: { "Content-Type": "application/json", Authorization: `Bearer ${TOKEN}`, ...headers },
});

describe("serve: the server around the routes", () => {
  let server: RunningServer;
  let readOnly: RunningServer;
  const errors: string[] = [];
  before(async () => {
    server = await startServer({
      routes,
      page,
      token: new BearerToken(TOKEN),
      port: 0,
      maxBodyBytes: 1024,
      onError: (line) => errors.push(line),
    });
    readOnly = await startServer({ routes, page, port: 0 });
  });
  after(async () => {
    await server.close();
    await readOnly.close();
  });

  it("listens on 127.0.0.1 and a free port, and says where", () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.notEqual(server.port, 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}/`);
  });

  it("answers a route with its validated query, as JSON with the security headers and no CORS", async () => {
    const r = await call(server, "GET", "/api/v1/items?limit=25&name=a%20b");
    assert.equal(r.status, 200);
    assert.deepEqual(json(r), { query: { limit: 25, name: "a b" } });
    assert.equal(r.headers["content-type"], "application/json; charset=utf-8");
    assert.equal(r.headers["cache-control"], "no-store");
    assert.equal(r.headers["x-content-type-options"], "nosniff");
    assert.match(String(r.headers["content-security-policy"]), /^default-src 'self'; script-src 'self';/);
    assert.equal(r.headers["access-control-allow-origin"], undefined);
  });

  it("serves the page with its Content-Security-Policy", async () => {
    const r = await call(server, "GET", "/");
    assert.equal(r.status, 200);
    assert.equal(r.body, "<p>page</p>");
    assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
    assert.match(String(r.headers["content-security-policy"]), /default-src 'self'/);
    assert.equal(r.headers["x-frame-options"], "DENY");
  });

  it("404 for an unknown path, 405 with Allow for a known path and another method", async () => {
    assert.deepEqual(
      [await call(server, "GET", "/api/v1/nothing"), await call(server, "GET", "/secret.txt")].map((r) => [
        r.status,
        json(r),
      ]),
      [
        [404, { error: "no such endpoint: /nothing" }],
        [404, { error: "no such page" }],
      ],
    );
    const r = await call(server, "DELETE", "/api/v1/items");
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, "GET, POST");
    assert.deepEqual(json(r), { error: "DELETE is not allowed on /items" });
    assert.equal((await call(server, "POST", "/")).status, 405);
  });

  it("400 naming the query parameter that is bad, unknown or repeated; __proto__ is just an unknown name", async () => {
    const cases: [string, string][] = [
      ["limit=0", "bad query parameter 'limit': at least 1"],
      ["limit=1001", "bad query parameter 'limit': at most 1000"],
      ["limit=ten", "bad query parameter 'limit': a whole number"],
      ["limit=1&limit=2", "query parameter 'limit' is given twice"],
      ["colour=red", "unknown query parameter 'colour'"],
      ["__proto__=x", "unknown query parameter '__proto__'"],
    ];
    for (const [q, error] of cases) {
      const r = await call(server, "GET", `/api/v1/items?${q}`);
      assert.deepEqual([r.status, json(r)], [400, { error }], q);
    }
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it("a change needs the token: 401 without it or with a wrong one, 403 when the server has none", async () => {
    const body = '{"a":1}';
    for (const authorization of [undefined, "Bearer wrong-token-0123456789", `Basic ${TOKEN}`, TOKEN]) {
      const headers: Record<string, string> = { "Content-Type": "application/json" };
      if (authorization) headers.Authorization = authorization;
      const r = await call(server, "POST", "/api/v1/items", { body, headers });
      assert.equal(r.status, 401, String(authorization));
      assert.equal(r.headers["www-authenticate"], 'Bearer realm="guestabi"');
      assert.deepEqual(json(r), {
        error: "changes need the server's bearer token (Authorization: Bearer TOKEN)",
      });
    }
    const r = await call(readOnly, "POST", "/api/v1/items", post(body));
    assert.equal(r.status, 403);
    assert.match(
      (json(r) as { error: string }).error,
      /^this server is read-only: start it with --token-file/,
    );
    assert.deepEqual(received, []);
    const ok = await call(server, "POST", "/api/v1/items", post(body));
    assert.deepEqual([ok.status, json(ok)], [201, { received: { a: 1 } }]);
    assert.deepEqual(received, [{ a: 1 }]);
  });

  it("413 for a body over the limit (declared or sent), 415 when not JSON, 400 with one line when bad JSON", async () => {
    received.length = 0;
    const big = `{"a":"${"x".repeat(2000)}"}`;
    const declared = await call(server, "POST", "/api/v1/items", post(big));
    assert.deepEqual([declared.status, json(declared)], [413, { error: "request body over 1 KiB" }]);
    const chunked = await call(server, "POST", "/api/v1/items", {
      ...post(big),
      headers: { ...post(big).headers, "Transfer-Encoding": "chunked" },
    });
    assert.deepEqual([chunked.status, json(chunked)], [413, { error: "request body over 1 KiB" }]);
    const text = await call(server, "POST", "/api/v1/items", post("{}", { "Content-Type": "text/plain" }));
    assert.deepEqual(
      [text.status, json(text)],
      [415, { error: "the request body must be JSON (Content-Type: application/json)" }],
    );
    const bad = await call(server, "POST", "/api/v1/items", post('{"a":'));
    assert.equal(bad.status, 400);
    assert.match((json(bad) as { error: string }).error, /^request body is not JSON: [^\n]+$/);
    assert.deepEqual(received, []);
  });

  it("a __proto__ key in a body is an own property, not a prototype", async () => {
    received.length = 0;
    const r = await call(server, "POST", "/api/v1/items", post('{"__proto__":{"polluted":true}}'));
    assert.equal(r.status, 201);
    const got = received[0] as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(got), Object.prototype);
    assert.deepEqual(Object.keys(got), ["__proto__"]);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });

  it("an unexpected error is a 500 'internal error' for the client, one line for the operator", async () => {
    const r = await call(server, "GET", "/api/v1/fails");
    assert.deepEqual([r.status, json(r)], [500, { error: "internal error" }]);
    assert.deepEqual(errors, ["GET /api/v1/fails: disk on fire"]);
  });

  it("421 for a Host header that is not a loopback name (DNS rebinding)", async () => {
    const r = await call(server, "GET", "/api/v1/items", { headers: { Host: "evil.example:80" } });
    assert.deepEqual(
      [r.status, json(r)],
      [421, { error: "this server answers requests for a loopback address only" }],
    );
    for (const host of [`localhost:${server.port}`, `127.0.0.1:${server.port}`, `[::1]:${server.port}`])
      assert.equal(
        (await call(server, "GET", "/api/v1/items", { headers: { Host: host } })).status,
        200,
        host,
      );
  });

  it("closes: a new connection is refused afterwards", async () => {
    const s = await startServer({ routes, page, port: 0 });
    assert.equal((await call(s, "GET", "/api/v1/items")).status, 200);
    await s.close();
    await assert.rejects(call(s, "GET", "/api/v1/items"), /ECONNREFUSED/);
  });
});

describe("BearerToken", () => {
  it("admits 'Bearer TOKEN' only, and refuses short or spaced tokens", () => {
    const t = new BearerToken(TOKEN);
    assert.equal(t.admits(`Bearer ${TOKEN}`), true);
    assert.equal(t.admits(`bearer ${TOKEN}`), true);
    assert.equal(t.admits(`Bearer ${TOKEN}x`), false);
    assert.equal(t.admits(`Bearer ${TOKEN.slice(1)}`), false);
    assert.equal(t.admits(undefined), false);
    assert.equal(t.admits("Bearer "), false);
    assert.throws(() => new BearerToken("short"), /too short \(at least 16 characters\)/);
    assert.throws(() => new BearerToken("has a space in it ok"), /one word of printable ASCII/);
  });
});
