/**
 * The server's defaults and where its token may come from, apart from server.ts and token.ts so that
 * the command line's help names them without loading the server.
 */
export const DEFAULT_HOST = "127.0.0.1";
export const DEFAULT_PORT = 7411;

/** The environment variable a token may come from. */
export const TOKEN_ENV = "GUESTABI_TOKEN";
