import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { childOf } from "../shared/options";
import { DnsPlanArgs, dnsRecords } from "./records";

export interface DnsArgs extends DnsPlanArgs {
    zoneId: string;
    /**
     * Resources that must have succeeded before records may point at the VPS (the
     * migration's verify step). Empty with target vps only under an explicit override.
     */
    cutoverGate: pulumi.Resource[];
    /** The stack's environment: the policy pack gates prod's cutover (policy/rules.ts). */
    environment: string;
    /** dnsAllowUnverifiedCutover: records may point at the VPS with no cutoverGate. */
    allowUnverifiedCutover: boolean;
}

/**
 * The product's Cloudflare records. Flipping `target` updates these records and
 * nothing else: that is the cutover, and flipping back is the rollback.
 */
export class Dns extends pulumi.ComponentResource {
    public readonly records: cloudflare.DnsRecord[];

    constructor(name: string, args: DnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:dns:Dns", name, {}, opts);
        this.records = dnsRecords(args).map(
            (r) =>
                new cloudflare.DnsRecord(
                    r.resourceName,
                    {
                        zoneId: args.zoneId,
                        name: r.name,
                        type: r.type,
                        content: r.content,
                        proxied: r.proxied,
                        ttl: r.ttl,
                        comment: `byte-runner-infra: ${args.target}`,
                    },
                    {
                        ...childOf(this, opts, args.target === "vps" ? args.cutoverGate : []),
                        // A name cannot hold a CNAME and an A record at once: a type change deletes first.
                        deleteBeforeReplace: true,
                    },
                ),
        );
        // What the policy pack's cutover gate reads (policy/rules.ts, DnsFacts).
        this.registerOutputs({ environment: args.environment, target: args.target, allowUnverifiedCutover: args.allowUnverifiedCutover });
    }
}
