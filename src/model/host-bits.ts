/**
 * Network-set and failsafe entries with host bits set (`203.0.113.5/24`): Calico accepts them
 * and matches the whole network, which is rarely what was meant (reference §1.6). Rule nets
 * are strict instead (CIDR_HOST_BITS, an error, as Calico's validator refuses them).
 */
import { formatCidr, type Cidr } from "./cidr.ts";

/** The NET_HOST_BITS message: which network the entry means, and how to write either reading. */
export function hostBitsMessage(text: string, cidr: Cidr): string {
  const address = text.slice(0, text.indexOf("/"));
  return `${text} has host bits set: Calico reads it as the network ${formatCidr(cidr)} (the whole /${cidr.prefix}), not the address ${address}; write ${formatCidr(cidr)} if you mean the network, or ${address}/${cidr.family === 4 ? 32 : 128} for the one address`;
}
