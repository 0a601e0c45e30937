/** The generated files and what writes each (scripts/generate-docs.ts; checked by test/unit/generated-docs.test.ts). */
import { schemaText } from "../src/cli/schema.ts";
import { manPage } from "../src/cli/man.ts";
import { apiMarkdown, openapiDocument } from "../src/api/openapi-doc.ts";

export const GENERATED: Record<string, () => string> = {
  "schema/hostwall.schema.json": () => schemaText(),
  "man/hostwall.1": manPage,
  "docs/openapi.json": () => JSON.stringify(openapiDocument(), null, 2) + "\n",
  "docs/api.md": () => apiMarkdown(),
};
