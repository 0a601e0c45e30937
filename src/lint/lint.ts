/**
 * Warnings for configs that are valid but do nothing, or less than meant (issue #11): a firewall
 * that silently protects nothing costs more than a rejected config. Each is positioned on the
 * field it is about, with what to write instead:
 *
 * - NO_ENDPOINT_ON_NODE: nothing is enforced on this node (endpoints.ts).
 * - RULES_IGNORED, NAMED_PORT_UNDECLARED: rules that never match, or match less (rules.ts).
 * - SELECTOR_MATCHES_NOTHING: selectors that match nothing anywhere (selectors.ts).
 *
 * Host bits in network sets are a validation warning (model/host-bits.ts): they need only the
 * entry. These need the whole valid model, so the pipeline runs them after resolve, and only
 * on a config without errors and with every file read: on a partial model they would guess.
 */
import type { Diagnostic } from "../diagnostics/diagnostic.ts";
import { sortDiagnostics } from "../diagnostics/diagnostic.ts";
import { labelledEndpoints } from "../resolve/resolve.ts";
import { lintEndpoints, type EndpointLintInput } from "./endpoints.ts";
import { lintIgnoredRules, lintNamedPorts } from "./rules.ts";
import { lintSelectors } from "./selectors.ts";

export function lintConfig(input: EndpointLintInput): Diagnostic[] {
  const endpoints = labelledEndpoints(input.model);
  return [
    ...lintEndpoints(input),
    ...sortDiagnostics([...lintIgnoredRules(input.model), ...lintNamedPorts(input.model, endpoints), ...lintSelectors(input.model, endpoints)]),
  ];
}
