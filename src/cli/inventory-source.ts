/**
 * The inventory a command reads or changes (--db: a SQLite file, default guestabi.db, or a postgres://
 * URL; src/inventory/store.ts), opened for the command and closed after it.
 */
import type { FleetModel } from "../fleet/model.js";
import { DEFAULT_INVENTORY, openInventory } from "../inventory/store.js";
import type { Inventory } from "../inventory/store.js";
import { UsageError } from "./run-command.js";

/** What `--db [spec]` gave: a spec, or true for the default file. */
export type DbOption = string | true;

/** What the inventory calls the CPU of a host whose profile has no CPU label (in group names). */
export const UNLABELLED_CPU = "unlabelled";

export const dbSpec = (db: DbOption): string => (db === true ? DEFAULT_INVENTORY : db);

/**
 * Runs `fn` on the inventory `spec` names, closed afterwards; with the inventory's name as messages
 * show it (a PostgreSQL URL without its password).
 */
export async function withInventory<T>(
  spec: string,
  mustExist: boolean,
  fn: (inv: Inventory) => Promise<T>,
): Promise<T & { inventory: string }> {
  const inv = await openInventory(spec, { mustExist });
  try {
    return { ...(await fn(inv)), inventory: inv.source };
  } finally {
    await inv.close();
  }
}

/**
 * The fleet model of an existing inventory (of some of its groups): counts aggregated by the database,
 * each distinct profile and ABI loaded once. UsageError for an inventory without hosts, which no
 * analysis can answer from.
 */
export async function inventoryModel(
  db: DbOption,
  groups?: readonly string[],
): Promise<{ model: FleetModel; inventory: string }> {
  return withInventory(dbSpec(db), true, async (inv) => {
    const model = await inv.model(groups ? { groups } : {});
    // (a group named in `groups` that the inventory lacks is the model's InventoryError)
    if (model.hostCounts.length === 0)
      throw new UsageError(
        `${inv.source} has no hosts (add some: guestabi inventory add PROFILE... or inventory add-sim)`,
      );
    return { model };
  });
}
