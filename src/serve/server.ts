/**
 * The server of `guestabi serve` on node:http: the dashboard's files at /, the JSON API under
 * /api/v1. A request goes through, in order: the Host check (bound to a loopback address, it answers
 * loopback names only, so a page elsewhere cannot reach it by DNS rebinding), its route (404, 405),
 * the bearer token when it changes the inventory (403 read-only, 401), its query (400), its body
 * (415, 413, 400), then the handler. Every error is `{"error": "one line"}`; an unexpected one is a
 * 500 "internal error" for the client and one line for the operator (onError), never a stack.
 */
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import { isIP } from "node:net";
import type { AddressInfo } from "node:net";
import { HttpError, MAX_BODY_BYTES, SECURITY_HEADERS, readJsonBody, sendError, sendJson } from "./http.js";
import type { PageFile } from "./page.js";
import { Router } from "./router.js";
import type { Route } from "./router.js";
import { DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV } from "./defaults.js";
import type { BearerToken } from "./token.js";

/** The API's root path: its version is in the path, so a v2 can live beside it. */
export const API_ROOT = "/api/v1";
export { DEFAULT_HOST, DEFAULT_PORT } from "./defaults.js";

export interface ServerOptions {
  routes: readonly Route[];
  page: ReadonlyMap<string, PageFile>;
  /** Without a token the server is read-only: changes are 403. */
  token?: BearerToken | undefined;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default DEFAULT_PORT; 0 picks a free port. */
  port?: number;
  /** Default MAX_BODY_BYTES. */
  maxBodyBytes?: number;
  /** An unexpected error (a 500), one line, for the operator. */
  onError?: (line: string) => void;
}

export interface RunningServer {
  /** http://HOST:PORT/ */
  url: string;
  port: number;
  /** Stops accepting, lets the requests under way finish (at most CLOSE_GRACE_MS), then resolves. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 5000;

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);

/** The host name of a Host header ("[::1]:8080" -> "[::1]", "localhost:80" -> "localhost"). */
const hostName = (header: string): string => header.replace(/:\d*$/, "").toLowerCase();

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const host = o.host ?? DEFAULT_HOST;
  const router = new Router(o.routes);
  const limit = o.maxBodyBytes ?? MAX_BODY_BYTES;
  const loopbackOnly = isLoopback(host);

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (loopbackOnly && !isLoopback(hostName(req.headers.host ?? "")))
      throw new HttpError(421, "this server answers requests for a loopback address only");
    let url: URL;
    try {
      url = new URL(req.url ?? "/", "http://localhost");
    } catch {
      throw new HttpError(400, "bad request URL");
    }
    const method = req.method ?? "GET";
    const api = url.pathname === API_ROOT || url.pathname.startsWith(API_ROOT + "/");
    if (!api) {
      const file = o.page.get(url.pathname);
      if (!file) throw new HttpError(404, "no such page");
      if (method !== "GET") throw new HttpError(405, `${method} is not allowed on a page`, { Allow: "GET" });
      res.writeHead(200, {
        ...SECURITY_HEADERS,
        "Content-Type": file.type,
        "Content-Length": String(file.body.length),
        "Cache-Control": "no-cache",
      });
      res.end(file.body);
      return;
    }
    const route = router.find(method, url.pathname.slice(API_ROOT.length) || "/");
    if (route.changes) {
      if (!o.token)
        throw new HttpError(
          403,
          `this server is read-only: start it with --token-file FILE or ${TOKEN_ENV} to allow changes`,
        );
      if (!o.token.admits(req.headers.authorization))
        throw new HttpError(401, "changes need the server's bearer token (Authorization: Bearer TOKEN)", {
          "WWW-Authenticate": 'Bearer realm="guestabi"',
        });
    }
    const query = route.query(url.searchParams);
    const body = method === "GET" ? undefined : await readJsonBody(req, limit);
    const r = await route.handle({ query, body });
    sendJson(res, r.status ?? 200, r.body);
  }

  const server = createServer((req, res) => {
    answer(req, res).catch((e: unknown) => {
      let err: HttpError;
      if (e instanceof HttpError) err = e;
      else {
        const message = e instanceof Error ? e.message : String(e);
        o.onError?.(`${req.method} ${req.url}: ${message.split("\n")[0]}`);
        err = new HttpError(500, "internal error");
      }
      if (res.headersSent) res.destroy();
      else sendError(res, err);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? DEFAULT_PORT, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = isIP(host) === 6 ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
