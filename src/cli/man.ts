/**
 * The man page, generated from the usage texts (help.ts HELP): `hostwall man` prints it and
 * scripts/generate-docs.ts writes the repo's copy, man/hostwall.1 (a unit test keeps it current). The
 * help texts are laid out by hand for a terminal, so each is kept verbatim in a no-fill block;
 * only roff's special characters are escaped.
 */
import { COMMAND_FLAGS, HELP } from "./help.ts";

/** Text safe inside a roff no-fill block: backslashes escaped, no line read as a request. */
export function roffText(text: string): string {
  return text
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .split("\n")
    .map((line) => (/^[.']/.test(line) ? `\\&${line}` : line))
    .join("\n");
}

export function manPage(): string {
  const main = HELP[""]!;
  const [title, ...rest] = main.split("\n");
  const name = title!.replace(/^hostwall — /, "");
  const out = [
    '.\\" Generated from `hostwall help` by scripts/generate-docs.ts (hostwall man); do not edit by hand.',
    '.TH HOSTWALL 1 "" "hostwall" "User Commands"',
    ".SH NAME",
    `hostwall \\- ${roffText(name)}`,
    ".SH SYNOPSIS",
    ".B hostwall",
    ".I command",
    "[\\fIflags\\fR]",
    ".SH DESCRIPTION",
    ".nf",
    roffText(rest.join("\n").replace(/^\n+|\n+$/g, "")),
    ".fi",
    ".SH COMMANDS",
  ];
  for (const command of Object.keys(COMMAND_FLAGS)) {
    const text = HELP[command];
    if (text === undefined) continue;
    out.push(`.SS ${command}`, ".nf", roffText(text.replace(/\n+$/, "")), ".fi");
  }
  out.push(
    ".SH FILES",
    ".TP",
    ".I /etc/hostwall",
    "the config dir: Calico v3 resources in *.yaml, *.yml and *.json files",
    ".SH SEE ALSO",
    ".BR nft (8)",
  );
  return out.join("\n") + "\n";
}
