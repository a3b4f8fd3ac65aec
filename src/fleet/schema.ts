/**
 * The fleet file's JSON Schema, generated from FleetSchema (fleet.ts) and committed as
 * schema/fleet.schema.json. Regenerate after a change of the fleet format with
 * `node dist/fleet/schema.js --write`; schema.test.ts and scripts/check-generated.mjs fail while the
 * committed file says something else. (The fleet format is above formats/, so formats/schemas.ts,
 * which writes the other documents' schemas, does not list it.)
 */
import { jsonSchemaOf, schemaWriterMain } from "../formats/schemas.js";
import { FLEET_FORMAT, FLEET_VERSION, FleetSchema } from "./fleet.js";

/** schema/ file name -> the JSON Schema (as a JSON value). */
export function fleetSchemas(): Record<string, object> {
  return {
    "fleet.schema.json": jsonSchemaOf(
      FleetSchema,
      "fleet.schema.json",
      `${FLEET_FORMAT} version ${FLEET_VERSION}`,
    ),
  };
}

await schemaWriterMain(import.meta.url, fleetSchemas);
