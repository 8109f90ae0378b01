import { StackConfig } from "../../config";

export interface DnsRecordSpec {
    /** Pulumi resource name: stable across a flip, so the flip is an update of the same record. */
    resourceName: string;
    name: string;
    type: "A" | "CNAME";
    content: string;
    proxied: boolean;
    /** 1 = automatic (Cloudflare's value for proxied records). */
    ttl: number;
}

/** What the records depend on: the stack's dns settings and its hostnames. */
export type DnsPlanArgs = Pick<
    StackConfig<unknown>["dns"],
    "target" | "legacyFrontendTarget" | "legacyApiTarget" | "ipv4Address" | "proxied" | "ttl"
> &
    Pick<StackConfig<unknown>, "domain" | "frontendHost" | "apiHost">;

/**
 * The records the product needs, pointed at the old hosts (legacy) or at the VPS (vps).
 * Pure, so the cutover can be read and tested without any API.
 */
export function dnsRecords(a: DnsPlanArgs): DnsRecordSpec[] {
    const ttl = a.proxied ? 1 : a.ttl;
    const hosts = [
        { id: "frontend", name: a.frontendHost, legacy: a.legacyFrontendTarget },
        { id: "api", name: a.apiHost, legacy: a.legacyApiTarget },
    ];
    const records: DnsRecordSpec[] = [];
    for (const h of hosts) {
        if (a.target === "legacy") {
            records.push({ resourceName: `dns-${h.id}`, name: h.name, type: "CNAME", content: h.legacy, proxied: a.proxied, ttl });
        } else {
            // A only: an AAAA beside a CNAME is refused by Cloudflare, which would make the flip
            // and the rollback two-phase; behind the proxy, visitors get IPv6 from Cloudflare anyway.
            records.push({ resourceName: `dns-${h.id}`, name: h.name, type: "A", content: a.ipv4Address, proxied: a.proxied, ttl });
        }
    }
    // www follows the apex whichever side serves it (Caddy redirects it to the apex).
    if (a.frontendHost === a.domain) {
        records.push({ resourceName: "dns-www", name: `www.${a.domain}`, type: "CNAME", content: a.domain, proxied: a.proxied, ttl });
    }
    return records;
}
