/**
 * What names an inventory (`--db`): a SQLite file, by default DEFAULT_INVENTORY, or a PostgreSQL URL.
 * Apart from store.ts so that the command line's help names the default without loading the store.
 */

/** The inventory `openInventory()` opens: this file in the working directory. */
export const DEFAULT_INVENTORY = "guestabi.db";

/** What names a PostgreSQL inventory rather than a SQLite file. */
export const POSTGRES_URL = /^postgres(?:ql)?:\/\//;
