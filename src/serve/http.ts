/**
 * HTTP plumbing of `guestabi serve`, on node:http alone: errors with their status, JSON request bodies
 * read with a bound, JSON replies, and the headers every reply carries (no CORS: the API answers its
 * own page only).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { byteText } from "../formats/bounded-read.js";

/** A request the server refuses: its status and a one-line message for the client. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    message: string,
    /** Extra reply headers (Allow on a 405, WWW-Authenticate on a 401). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The default bound on a request body: a host profile is well under 1 MiB, a batch of them fits. */
export const MAX_BODY_BYTES = 8 << 20;

/**
 * Headers on every reply. The page's script and style are files of this server (no inline script, no
 * other origin); nothing may frame it; the browser must not guess content types or send referrers.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Resource-Policy": "same-origin",
};

const firstLine = (text: string): string => text.split("\n")[0]!;

/**
 * A request's body parsed as JSON: 413 when it is longer than `limit` bytes (by its Content-Length or
 * the bytes that arrive), 415 when it is not declared JSON, 400 with the parser's one line when it is
 * not JSON. `__proto__` keys stay plain own properties (JSON.parse never sets a prototype).
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json")
    throw new HttpError(415, "the request body must be JSON (Content-Type: application/json)");
  const tooLarge = () => new HttpError(413, `request body over ${byteText(limit)}`, { Connection: "close" });
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limit) throw tooLarge();
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw tooLarge();
    parts.push(chunk as Buffer);
  }
  const text = Buffer.concat(parts, total).toString("utf8");
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `request body is not JSON: ${firstLine((e as Error).message)}`);
  }
}

/** JSON text of a reply: register values (bigint) as 0x-prefixed hex, the form guestabi's files use. */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === "bigint" ? "0x" + v.toString(16) : v));
}

/** Sends a JSON reply with the security headers; never cached (the inventory changes under it). */
export function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = Buffer.from(jsonText(value) + "\n", "utf8");
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...headers,
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": String(body.length),
    "Cache-Control": "no-store",
  });
  res.end(body);
}

/** An error reply: `{"error": "one line"}`, never a stack. */
export function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, { error: firstLine(e.message) }, e.headers);
}
