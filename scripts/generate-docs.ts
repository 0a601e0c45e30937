/**
 * `npm run generate`: writes the files generated from the program's own tables, which the repo
 * carries for readers and editors: schema/hostwall.schema.json (the config files' JSON Schema,
 * from validate/fields.ts), man/hostwall.1 (from the usage texts) and docs/openapi.json (the
 * status API, from src/api/openapi.ts). test/unit/generated-docs.test.ts fails while a
 * committed copy differs from what this script would write.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { GENERATED } from "./generated.ts";

const root = join(import.meta.dir, "..");
for (const [path, render] of Object.entries(GENERATED)) {
  writeFileSync(join(root, path), render());
  console.log(`wrote ${path}`);
}
