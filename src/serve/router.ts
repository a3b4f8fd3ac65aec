/**
 * The API's routes as data: a method, a path, the zod schema of its query, whether it changes the
 * inventory (those need the bearer token), and what it answers. Finding the route of a request is a
 * 404 (no such path) or a 405 (the path, not that method, with the methods it has in Allow).
 */
import { z } from "zod";
import { HttpError } from "./http.js";

export type Method = "GET" | "POST" | "DELETE";

/** What a route's handler gets: its query, validated, and the JSON body (POST and DELETE). */
export interface RouteRequest<Q> {
  query: Q;
  body: unknown;
}

export interface Route {
  method: Method;
  /** The path below the API's root, e.g. "/hosts". */
  path: string;
  /** A change to the inventory: needs the bearer token. */
  changes: boolean;
  /** Parses the query parameters (their names and values as given) or throws HttpError 400. */
  query(params: URLSearchParams): unknown;
  handle(req: RouteRequest<unknown>): Promise<{ status?: number; body: unknown }>;
}

/** A route whose handler sees its query as its schema's output type. */
export function route<S extends z.ZodType>(def: {
  method: Method;
  path: string;
  query: S;
  changes?: boolean;
  handle(req: RouteRequest<z.output<S>>): Promise<{ status?: number; body: unknown }>;
}): Route {
  return {
    method: def.method,
    path: def.path,
    changes: def.changes ?? false,
    query: (params) => parseQuery(def.query, params),
    handle: (req) => def.handle(req as RouteRequest<z.output<S>>),
  };
}

/**
 * Query parameters checked by `schema` (a strict object of string inputs): 400 naming the first
 * parameter that is unknown, repeated or bad. Names like `__proto__` are plain own keys here.
 */
export function parseQuery<S extends z.ZodType>(schema: S, params: URLSearchParams): z.output<S> {
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (seen.has(name)) throw new HttpError(400, `query parameter '${shortName(name)}' is given twice`);
    seen.add(name);
  }
  const r = schema.safeParse(Object.fromEntries(params));
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  if (issue.code === "unrecognized_keys")
    throw new HttpError(400, `unknown query parameter '${shortName(String(issue.keys[0]))}'`);
  throw new HttpError(400, `bad query parameter '${String(issue.path[0])}': ${issue.message.split("\n")[0]}`);
}

/** A name from the client, shortened for a message. */
const shortName = (name: string): string => (name.length > 40 ? name.slice(0, 37) + "..." : name);

/** The routes of the API by path, then method. */
export class Router {
  private readonly byPath = new Map<string, Map<Method, Route>>();

  constructor(routes: readonly Route[]) {
    for (const r of routes) {
      let methods = this.byPath.get(r.path);
      if (!methods) this.byPath.set(r.path, (methods = new Map()));
      if (methods.has(r.method)) throw new Error(`route ${r.method} ${r.path} is defined twice`);
      methods.set(r.method, r);
    }
  }

  /** The route of (method, path): 404 when no route has the path, 405 (with Allow) when none has the method. */
  find(method: string, path: string): Route {
    const methods = this.byPath.get(path);
    if (!methods) throw new HttpError(404, `no such endpoint: ${shortName(path)}`);
    const r = methods.get(method as Method);
    if (!r)
      throw new HttpError(405, `${shortName(method)} is not allowed on ${path}`, {
        Allow: [...methods.keys()].join(", "),
      });
    return r;
  }
}

/** A whole number query parameter in [min, max]. */
export const wholeNumber = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d{1,9}$/, "a whole number")
    .transform(Number)
    .pipe(z.int().min(min, `at least ${min}`).max(max, `at most ${max}`));
