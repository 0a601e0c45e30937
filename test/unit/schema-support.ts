/**
 * The generated JSON Schema (src/validate/json-schema.ts) compiled with ajv, and YAML files
 * read into the values the schema sees: each document of a file as the YAML 1.2 reader of
 * config/parse.ts reads it (empty documents skipped). For test/unit/json-schema.test.ts.
 */
import Ajv, { type ValidateFunction } from "ajv";
import { parseAllDocuments } from "yaml";
import { jsonSchema } from "../../src/validate/json-schema.ts";

/** strict: ajv refuses unknown keywords, keywords without their type and other schema mistakes. */
export const ajv = new Ajv({ strict: true, allErrors: true });
export const validateFile: ValidateFunction = ajv.compile(jsonSchema());

/** The documents of a YAML file, or undefined when the file is not valid YAML. */
export function yamlDocuments(text: string): unknown[] | undefined {
  const docs = parseAllDocuments(text, { version: "1.2", uniqueKeys: false });
  if (!Array.isArray(docs)) return [];
  if (docs.some((d) => d.errors.length > 0)) return undefined;
  try {
    return docs.map((d) => d.toJS({ maxAliasCount: 100 })).filter((v) => v !== null && v !== undefined);
  } catch {
    return undefined; // an alias without its anchor, or too many aliases: hostwall's YAML_SYNTAX
  }
}

/** The schema's errors for a file's documents ([] when it accepts them all). */
export function schemaErrors(text: string): string[] {
  const out: string[] = [];
  for (const [i, doc] of (yamlDocuments(text) ?? []).entries()) {
    if (!validateFile(doc)) out.push(...(validateFile.errors ?? []).filter((e) => e.keyword !== "if" && e.keyword !== "anyOf").map((e) => `document ${i + 1}: ${e.instancePath || "/"} ${e.message}`));
  }
  return out;
}
