import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { SCHEMA_DIR } from "../formats/schemas.js";
import { fleetSchemas } from "./schema.js";

describe("the fleet file's JSON Schema", () => {
  it("schema/fleet.schema.json is what FleetSchema generates (regenerate: node dist/fleet/schema.js --write)", () => {
    const committed = JSON.parse(
      fs.readFileSync(path.join(SCHEMA_DIR, "fleet.schema.json"), "utf8"),
    ) as unknown;
    assert.deepEqual(committed, fleetSchemas()["fleet.schema.json"]);
  });

  it("names the three kinds of VM entry, the caps and the VMM names", () => {
    const s = fleetSchemas()["fleet.schema.json"] as {
      title: string;
      properties: {
        groups: { maxItems: number };
        vms: {
          maxItems: number;
          items: {
            anyOf: { required: string[]; properties: { vmm: { enum: string[]; default: string } } }[];
          };
        };
      };
    };
    assert.equal(s.title, "guestabi-fleet version 1");
    assert.equal(s.properties.groups.maxItems, 4096);
    assert.equal(s.properties.vms.maxItems, 100_000);
    const entries = s.properties.vms.items.anyOf;
    assert.deepEqual(
      entries.map((e) => e.required),
      [
        ["name", "group", "abi"],
        ["name", "group", "template"],
        ["name", "group", "snapshot"],
      ],
    );
    assert.equal(entries[0]!.properties.vmm.default, "guestabi");
    assert.deepEqual(entries[0]!.properties.vmm.enum, [
      "guestabi",
      "qemu@7.2",
      "qemu@10.0",
      "qemu@11.1",
      "firecracker",
      "cloud-hypervisor",
      "crosvm",
      "qemu",
    ]);
  });
});
