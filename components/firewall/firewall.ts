import * as command from "@pulumi/command";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readScript, REPO_ROOT, scriptCommand, sha256 } from "../shared/naming";
import { childOf } from "../shared/options";

export interface FirewallArgs {
    connection: command.types.input.remote.ConnectionArgs;
    sudo: boolean;
    sshPort: number;
    /** CIDRs allowed to SSH; empty = everywhere (warned about in every preview). */
    adminCidrs: string[];
    /** 80/443 only from Cloudflare's ranges (scripts/cloudflare-ips.txt). */
    cloudflareOnly: boolean;
    /** Ports open to the web. Default 80 and 443. */
    publicPorts?: number[];
}

const SCRIPT = "firewall.sh";

/** Cloudflare's published ranges, from the committed list (no API call, ever). */
export function cloudflareRanges(): string[] {
    return fs
        .readFileSync(path.join(REPO_ROOT, "scripts", "cloudflare-ips.txt"), "utf8")
        .split("\n")
        .map((l) => l.replace(/#.*/, "").trim())
        .filter((l) => l !== "");
}

/** The KEY=VALUE settings firewall.sh reads on stdin. */
export function firewallSettings(a: FirewallArgs): string {
    return [
        `SSH_PORT=${a.sshPort}`,
        `ADMIN_CIDRS=${a.adminCidrs.join(" ")}`,
        `PUBLIC_PORTS=${(a.publicPorts ?? [80, 443]).join(" ")}`,
        `CLOUDFLARE_ONLY=${a.cloudflareOnly ? 1 : 0}`,
        `CLOUDFLARE_RANGES=${a.cloudflareOnly ? cloudflareRanges().join(" ") : ""}`,
        "",
    ].join("\n");
}

/**
 * The host firewall (nftables, one table replaced atomically), applied over SSH. Its
 * rules change when the script or the settings do, and then it is applied again;
 * the SSH session applying it keeps working.
 */
export class Firewall extends pulumi.ComponentResource {
    public readonly apply: command.remote.Command;
    public readonly settings: string;

    constructor(name: string, args: FirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:firewall:Firewall", name, {}, opts);
        if (args.adminCidrs.length === 0) {
            pulumi.log.warn("firewallAdminCidrs is empty: SSH is open to the whole internet (keys only). Set it to your admin networks.", this);
        }
        this.settings = firewallSettings(args);
        this.apply = new command.remote.Command(
            `${name}-apply`,
            {
                connection: args.connection,
                create: scriptCommand(SCRIPT, ["--apply"], { sudo: args.sudo }),
                stdin: this.settings,
                // Removing the resource (firewallEnabled false) takes the rules away again.
                delete: scriptCommand(SCRIPT, ["--remove"], { sudo: args.sudo }),
                triggers: [sha256(readScript(SCRIPT)), sha256(this.settings)],
            },
            childOf(this, opts),
        );
        this.registerOutputs({});
    }
}
