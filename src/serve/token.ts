/**
 * The bearer token that allows changes through the API (POST and DELETE). Without one the server is
 * read-only. It comes from a file (--token-file) or GUESTABI_TOKEN, and is compared in constant
 * time: both sides are hashed first, so neither the token's bytes nor its length show in the timing.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { readBounded } from "../formats/bounded-read.js";
import { TOKEN_ENV } from "./defaults.js";

export { TOKEN_ENV } from "./defaults.js";

/** Shorter tokens are guessable; a token file holds one line of printable ASCII. */
const MIN_TOKEN_CHARS = 16;
const MAX_TOKEN_BYTES = 4096;
const TOKEN_CHARS = /^[\x21-\x7e]+$/;

/** A token that cannot be used: one line. */
export class TokenError extends Error {
  override name = "TokenError";
}

const digest = (text: string): Buffer => createHash("sha256").update(text, "utf8").digest();

export class BearerToken {
  private readonly expected: Buffer;

  constructor(token: string) {
    if (!TOKEN_CHARS.test(token))
      throw new TokenError("the serve token must be one word of printable ASCII (no spaces)");
    if (token.length < MIN_TOKEN_CHARS)
      throw new TokenError(`the serve token is too short (at least ${MIN_TOKEN_CHARS} characters)`);
    this.expected = digest(token);
  }

  /** Whether an Authorization header carries this token ("Bearer TOKEN"). */
  admits(authorization: string | undefined): boolean {
    const m = /^Bearer +(\S+) *$/i.exec(authorization ?? "");
    return timingSafeEqual(digest(m?.[1] ?? ""), this.expected) && m !== null;
  }
}

/**
 * The configured token: from `file` (its one line, the newline dropped) when given, else from
 * `env[TOKEN_ENV]` when set and not empty; undefined when neither (read-only).
 */
export async function loadToken(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<BearerToken | undefined> {
  if (file !== undefined) {
    let text: string;
    try {
      text = (await readBounded(file, MAX_TOKEN_BYTES, "a token file")).toString("utf8");
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new TokenError(code ? `cannot read ${file}: ${code}` : (e as Error).message);
    }
    return new BearerToken(text.replace(/\r?\n$/, ""));
  }
  const fromEnv = env[TOKEN_ENV];
  return fromEnv ? new BearerToken(fromEnv) : undefined;
}
