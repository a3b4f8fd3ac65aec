/**
 * The JSON Schemas of guestabi's documents, generated from the zod schemas (the JSON side of each
 * codec, `io: "input"`) and committed under schema/. Regenerate after a schema change with
 * `node dist/formats/schemas.js --write` (formats with prettier, a dev dependency); schemas.test.ts fails
 * while a committed file says something else than the generated schema.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as z from "zod";
import { HostProfileSchema, PROFILE_FORMAT, PROFILE_VERSION } from "./profile.js";
import { RESTORE_TRIAL_FORMAT, RESTORE_TRIAL_VERSION, RestoreTrialDocSchema } from "./restore-trial.js";

const BASE = "https://guestabi.dev/schema/";

/** The JSON Schema of a document's zod schema (its JSON side), as schema/`file` holds it. */
export function jsonSchemaOf(schema: z.ZodType, file: string, title: string): object {
  const json = z.toJSONSchema(schema, { io: "input", target: "draft-2020-12", unrepresentable: "throw" });
  return { ...json, $id: BASE + file, title };
}

/** schema/ file name -> the JSON Schema (as a JSON value). */
export function generatedSchemas(): Record<string, object> {
  return {
    "host-profile.schema.json": jsonSchemaOf(
      HostProfileSchema,
      "host-profile.schema.json",
      `${PROFILE_FORMAT} version ${PROFILE_VERSION}`,
    ),
    "restore-trial.schema.json": jsonSchemaOf(
      RestoreTrialDocSchema,
      "restore-trial.schema.json",
      `${RESTORE_TRIAL_FORMAT} version ${RESTORE_TRIAL_VERSION}`,
    ),
  };
}

/** The project's schema/ folder (dist/formats/ -> ../../schema). */
export const SCHEMA_DIR = fileURLToPath(new URL("../../schema/", import.meta.url));

/**
 * When `moduleUrl` is the program node runs: `--write` rewrites schema/ files from `schemas` (formatted
 * with prettier, a dev dependency), anything else is a usage error.
 */
export async function schemaWriterMain(
  moduleUrl: string,
  schemas: () => Record<string, object>,
): Promise<void> {
  const self = fileURLToPath(moduleUrl);
  if (!process.argv[1] || path.resolve(process.argv[1]) !== self) return;
  const script = path.relative(process.cwd(), self);
  if (process.argv[2] !== "--write") {
    process.stderr.write(
      `usage: node ${script} --write   (rewrites ${Object.keys(schemas())
        .map((f) => `schema/${f}`)
        .join(", ")})\n`,
    );
    process.exit(2);
  }
  const prettier = await import("prettier");
  for (const [file, json] of Object.entries(schemas())) {
    const text = await prettier.format(JSON.stringify(json), { parser: "json", printWidth: 110 });
    fs.writeFileSync(path.join(SCHEMA_DIR, file), text);
    process.stdout.write(`wrote schema/${file}\n`);
  }
}

await schemaWriterMain(import.meta.url, generatedSchemas);
