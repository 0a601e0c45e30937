/**
 * One packet's walk through the stages, along the packet path drawn in evaluate.ts: the
 * untracked, pre-DNAT, normal and forward stages of each endpoint side in turn, each with its
 * conntrack shortcut, failsafes, tiers and profiles, recording every step and every Log rule
 * hit. The endpoints come from resolution.ts, rule matches from matching.ts.
 */
import { cidrContains, formatCidr, type Cidr } from "../model/cidr.ts";
import { parseAddress } from "../model/cidr-parse.ts";
import type { Direction, FailsafePort, FelixSettings } from "../model/types.ts";
import type { ConntrackState, Explanation, LogHit, Packet, Reason, Stage, Step } from "./explanation.ts";
import type { RuleMatcher, View } from "./matching.ts";
import type { Endpoint, Resolution, TierRun } from "./resolution.ts";

/** What a walk reads: the FelixConfiguration in force, the endpoints, the rule matcher. */
export interface WalkContext {
  felix: FelixSettings;
  resolution: Resolution;
  matcher: RuleMatcher;
}

function parse(addr: string, family: 4 | 6, what: string): Cidr {
  const r = parseAddress(addr);
  if (!r.ok) throw new Error(`packet ${what} ${JSON.stringify(addr)}: ${r.message}`);
  if (r.cidr.family !== family) throw new Error(`packet ${what} ${addr} is not IPv${family}`);
  return r.cidr;
}

const PORT_PROTOCOLS = new Set([6, 17, 132, 136]);

/** One packet's evaluation. */
export class Run {
  readonly steps: Step[] = [];
  readonly logs: LogHit[] = [];
  private readonly pre: View;
  private readonly post: View;
  private readonly ct: ConntrackState;
  /** The untracked stage allowed the packet (notrack): no conntrack shortcut after it. */
  private notracked = false;

  constructor(private readonly ev: WalkContext, private readonly pkt: Packet) {
    const hasPorts = PORT_PROTOCOLS.has(pkt.protocol);
    const base = {
      family: pkt.family,
      src: parse(pkt.src, pkt.family, "src"),
      protocol: pkt.protocol,
      srcPort: hasPorts ? pkt.srcPort : undefined,
      icmpType: pkt.icmpType,
      icmpCode: pkt.icmpCode,
    };
    this.pre = { ...base, dst: parse(pkt.dst, pkt.family, "dst"), dstPort: hasPorts ? pkt.dstPort : undefined };
    this.post = pkt.dnat
      ? { ...base, dst: parse(pkt.dnat.dst, pkt.family, "dnat.dst"), dstPort: hasPorts ? (pkt.dnat.dstPort ?? pkt.dstPort) : undefined }
      : this.pre;
    this.ct = pkt.conntrack ?? "new";
  }

  result(): Explanation {
    const pkt = this.pkt;
    const need = (iface: string | undefined, what: string): string => {
      if (!iface) throw new Error(`a ${pkt.direction} packet needs ${what}`);
      return iface;
    };
    if (pkt.family === 6 && !this.ev.felix.ipv6Support) {
      const side = pkt.direction === "egress" ? "egress" : "ingress";
      return this.finish("none", this.push({ stage: "dispatch", side, interface: (side === "egress" ? pkt.outInterface : pkt.inInterface) ?? "", outcome: "none", reason: { kind: "ipv6-disabled" } }));
    }
    if (pkt.direction === "ingress") return this.local("ingress", need(pkt.inInterface, "inInterface"));
    if (pkt.direction === "egress") return this.local("egress", need(pkt.outInterface, "outInterface"));
    return this.forward(need(pkt.inInterface, "inInterface"), need(pkt.outInterface, "outInterface"));
  }

  private push(step: Step): Step {
    this.steps.push(step);
    return step;
  }

  private finish(verdict: Explanation["verdict"], decidedBy: Step, notrack = false): Explanation {
    const denyAction = verdict !== "deny" ? undefined : this.ev.felix.filterDenyAction === "Reject" && (decidedBy.stage === "normal" || decidedBy.stage === "forward") ? "reject" : "drop";
    return { verdict, denyAction, decidedBy, steps: this.steps, logs: this.logs, notrack };
  }

  /** Traffic to (ingress) or from (egress) a host process. */
  private local(side: Direction, iface: string): Explanation {
    const ep = this.ev.resolution.endpointFor(iface);
    const untracked = this.untrackedStage(side, iface);
    if (untracked.outcome === "deny") return this.finish("deny", untracked);
    if (untracked.outcome === "allow") return this.finish("allow", untracked, true);
    if (side === "ingress") {
      const pre = this.preDnatStage(iface);
      if (pre?.outcome === "deny") return this.finish("deny", pre);
      if (pre?.outcome === "allow") return this.finish("allow", pre);
    }
    if (!ep) return this.finish("none", this.push({ stage: "dispatch", side, interface: iface, outcome: "none", reason: { kind: "no-endpoint", interface: iface } }));
    const normal = this.trackedStage("normal", side, iface, ep);
    return this.finish(normal.outcome === "deny" ? "deny" : normal.outcome === "none" ? "none" : "allow", normal);
  }

  /** Forwarded traffic, in X and out Y (§2.4 step 4, §3.2, §3.3). */
  private forward(inIface: string, outIface: string): Explanation {
    const untracked = this.untrackedStage("ingress", inIface);
    if (untracked.outcome === "deny") return this.finish("deny", untracked);
    let accepted: Step | undefined = untracked.outcome === "allow" ? untracked : undefined;
    // Allowed by the untracked stage: notrack, so the tracked stages after it see `ct state
    // untracked` and their conntrack shortcut never fires (the outgoing side runs its policies).
    if (accepted) this.notracked = true;
    if (!accepted) {
      const pre = this.preDnatStage(inIface);
      if (pre?.outcome === "deny") return this.finish("deny", pre);
      if (pre?.outcome === "allow") accepted = pre;
    }
    let last: Step | undefined = accepted;
    let verdict: "allow" | "none" = accepted ? "allow" : "none";
    const epIn = this.ev.resolution.endpointFor(inIface);
    if (epIn) {
      if (accepted) this.push({ stage: "forward", side: "ingress", interface: inIface, endpoint: epIn.hep.meta.name, outcome: "allow", reason: { kind: "accept-mark", from: accepted.stage as Stage } });
      else {
        const s = this.trackedStage("forward", "ingress", inIface, epIn);
        if (s.outcome === "deny") return this.finish("deny", s);
        last = s;
        verdict = s.outcome === "none" ? "none" : "allow";
        // An established flow is accepted outright in the ingress chain (allow action Accept).
        if (s.reason.kind === "conntrack") return this.finish("allow", s, untracked.outcome === "allow");
      }
    }
    const epOut = this.ev.resolution.endpointFor(outIface);
    if (epOut) {
      const s = this.trackedStage("forward", "egress", outIface, epOut);
      if (s.outcome === "deny") return this.finish("deny", s);
      last = s;
      verdict = s.outcome === "none" ? "none" : "allow";
    }
    if (!last) {
      return this.finish("none", this.push({ stage: "dispatch", side: "ingress", interface: inIface, outcome: "none", reason: { kind: "no-endpoint", interface: `${inIface}, ${outIface}` } }), false);
    }
    return this.finish(verdict, last, untracked.outcome === "allow");
  }

  /** Untracked stage (raw): failsafes incl. reverse ones, then policies; no conntrack shortcut. */
  private untrackedStage(side: Direction, iface: string): Step {
    const ep = this.ev.resolution.lookup(iface, "untracked");
    const base = { stage: "untracked" as const, side, interface: iface, endpoint: ep?.hep.meta.name };
    const tiers = ep?.stages.untracked[side] ?? [];
    // Felix's raw dispatch lists only interfaces with untracked policy; without it nothing runs.
    if (!ep || (ep.stages.untracked.ingress.length === 0 && ep.stages.untracked.egress.length === 0)) {
      return { ...base, outcome: "none", reason: { kind: "fall-through", tiers: 0 } };
    }
    const fs = this.failsafe(side, true, this.pre);
    if (fs) return this.push({ ...base, outcome: "accept", reason: fs });
    const r = this.tiers("untracked", side, tiers, this.pre);
    return this.push({ ...base, ...r });
  }

  /** Pre-DNAT stage (mangle prerouting, ingress only). */
  private preDnatStage(iface: string): Step | undefined {
    const ep = this.ev.resolution.lookup(iface, "preDNAT");
    if (!ep || ep.stages.preDNAT.ingress.length === 0) return undefined;
    const base = { stage: "preDNAT" as const, side: "ingress" as const, interface: iface, endpoint: ep.hep.meta.name };
    const ct = this.conntrack();
    if (ct) return this.push({ ...base, outcome: ct.outcome === "allow" ? "accept" : ct.outcome, reason: ct.reason });
    const fs = this.failsafe("ingress", false, this.pre);
    if (fs) return this.push({ ...base, outcome: "accept", reason: fs });
    return this.push({ ...base, ...this.tiers("preDNAT", "ingress", ep.stages.preDNAT.ingress, this.pre) });
  }

  /** Normal or forward stage (filter), one side. */
  private trackedStage(stage: "normal" | "forward", side: Direction, iface: string, ep: Endpoint): Step {
    const base = { stage, side, interface: iface, endpoint: ep.hep.meta.name };
    const ct = this.conntrack();
    if (ct) return this.push({ ...base, ...ct });
    if (stage === "normal") {
      const fs = this.failsafe(side, false, this.post);
      if (fs) return this.push({ ...base, outcome: "allow", reason: fs });
    }
    const tiers = ep.stages[stage][side];
    const r = this.tiers(stage, side, tiers, this.post);
    if (r.outcome !== "none") return this.push({ ...base, ...r });
    if (stage === "forward") {
      // §2.4 step 4: no applyOnForward policy in this direction → allow; all passed → no verdict.
      return this.push({ ...base, ...(tiers.length === 0 ? { outcome: "allow", reason: { kind: "forward-default-allow" } } : r) });
    }
    return this.push({ ...base, ...this.profilesStage(side, ep) });
  }

  /** ct state shortcut of tracked chains (§2.7): established/related accept, invalid deny. */
  private conntrack(): { outcome: "allow" | "deny"; reason: Reason } | undefined {
    if (this.notracked) return undefined;
    if (this.ct === "established" || this.ct === "related") return { outcome: "allow", reason: { kind: "conntrack", state: this.ct } };
    if (this.ct === "invalid" && this.ev.felix.conntrackInvalidCheck) return { outcome: "deny", reason: { kind: "conntrack", state: "invalid" } };
    return undefined;
  }

  /**
   * Failsafe accepts (§3.5; felix rules/static.go failsafeInChain/failsafeOutChain): inbound
   * entries by destination port (+ source net), outbound by destination port (+ destination
   * net); in the raw variant also the reverse direction by source port.
   */
  private failsafe(side: Direction, raw: boolean, v: View): Reason | undefined {
    const felix = this.ev.felix;
    const proto = v.protocol === 6 ? "tcp" : v.protocol === 17 ? "udp" : undefined;
    if (!proto) return undefined;
    const check = (list: readonly FailsafePort[], name: "inbound" | "outbound", reverse: boolean, port: number | undefined, remote: Cidr): Reason | undefined => {
      for (const f of list) {
        if (f.protocol !== proto || f.port !== port) continue;
        if (f.net && !(f.net.family === v.family && cidrContains(f.net, remote))) continue;
        return { kind: "failsafe", list: name, reverse, protocol: f.protocol, port: f.port, net: f.net && formatCidr(f.net) };
      }
      return undefined;
    };
    if (side === "ingress") {
      return check(felix.failsafeInbound, "inbound", false, v.dstPort, v.src) ?? (raw ? check(felix.failsafeOutbound, "outbound", true, v.srcPort, v.src) : undefined);
    }
    return check(felix.failsafeOutbound, "outbound", false, v.dstPort, v.dst) ?? (raw ? check(felix.failsafeInbound, "inbound", true, v.srcPort, v.dst) : undefined);
  }

  /**
   * Tiers in order (§2.3, §2.4): first matching Allow/Deny/Pass rule of each policy decides;
   * Log continues; Pass leaves the tier; a tier with no verdict ends in its defaultAction in
   * the normal and forward stages (untracked and pre-DNAT tiers always behave as Pass).
   */
  private tiers(stage: Stage, side: Direction, tiers: readonly TierRun[], v: View): { outcome: "allow" | "deny" | "none"; reason: Reason } {
    for (const { tier, policies } of tiers) {
      let passed = false;
      policies: for (const policy of policies) {
        const rules = side === "ingress" ? policy.ingress : policy.egress;
        for (let i = 0; i < rules.length; i++) {
          const rule = rules[i]!;
          if (!this.ev.matcher.ruleMatches(rule, v)) continue;
          const reason: Reason = { kind: "rule", tier: tier.meta.name, policy: policy.meta.name, ruleIndex: i, action: rule.action };
          if (rule.action === "Log") {
            this.log(stage, side, policy.meta.name, "gnp", tier.meta.name, i);
            continue;
          }
          if (rule.action === "Allow") return { outcome: "allow", reason };
          if (rule.action === "Deny") return { outcome: "deny", reason };
          passed = true;
          break policies;
        }
      }
      if (passed) continue;
      if ((stage === "normal" || stage === "forward") && tier.defaultAction === "Deny") return { outcome: "deny", reason: { kind: "end-of-tier", tier: tier.meta.name } };
    }
    return { outcome: "none", reason: { kind: "fall-through", tiers: tiers.length } };
  }

  /** Profiles after the tiers, normal stage only (§2.4 steps 2-3, §1.7). */
  private profilesStage(side: Direction, ep: Endpoint): { outcome: "allow" | "deny"; reason: Reason } {
    for (const ref of ep.profiles) {
      if (ref.kind === "default-allow") return { outcome: "allow", reason: { kind: "default-allow-profile" } };
      if (ref.kind === "missing") return { outcome: "deny", reason: { kind: "missing-profile", profile: ref.name } };
      const rules = side === "ingress" ? ref.profile.ingress : ref.profile.egress;
      for (let i = 0; i < rules.length; i++) {
        const rule = rules[i]!;
        if (!this.ev.matcher.ruleMatches(rule, this.post)) continue;
        if (rule.action === "Log") {
          this.log("normal", side, ref.profile.meta.name, "pro", "", i);
          continue;
        }
        // A Pass in a profile acts like no match: on to the next profile (§2.3).
        if (rule.action === "Pass") break;
        return { outcome: rule.action === "Allow" ? "allow" : "deny", reason: { kind: "profile-rule", profile: ref.profile.meta.name, ruleIndex: i, action: rule.action } };
      }
    }
    return { outcome: "deny", reason: { kind: "no-profile-matched" } };
  }

  private log(stage: Stage, side: Direction, owner: string, kind: "gnp" | "pro", tier: string, ruleIndex: number): void {
    const pattern = this.ev.felix.logPrefix;
    const prefix = pattern.replace(/%[tknp]/g, (s) => (s === "%t" ? tier : s === "%k" ? kind : owner));
    this.logs.push({ stage, side, owner, kind, tier, ruleIndex, prefix });
  }
}
