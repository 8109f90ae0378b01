import * as command from "@pulumi/command";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { scriptCommand } from "../shared/naming";
import { childOf } from "../shared/options";

export interface FirewallArgs {
    connection: command.types.input.remote.ConnectionArgs;
    sudo: boolean;
    sshPort: number;
    /** CIDRs allowed to SSH; empty = everywhere (warned about in every preview). */
    adminCidrs: string[];
    /** 80/443 only from Cloudflare's ranges (components/firewall/cloudflare-ips.txt). */
    cloudflareOnly: boolean;
    /** Ports open to the web. Default 80 and 443. */
    publicPorts?: number[];
}

const SCRIPT = "firewall.sh";

/** Cloudflare's published ranges, from the committed list (no API call, ever). */
export function cloudflareRanges(): string[] {
    return fs
        .readFileSync(path.join(__dirname, "cloudflare-ips.txt"), "utf8")
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
                // A new script or new settings change these inputs: an update, which applies
                // the new rules atomically over the old. No triggers: a replacement would
                // create the new rules and then run the old resource's delete (--remove).
                create: scriptCommand(SCRIPT, ["--apply"], { sudo: args.sudo, passEnv: ["SSH_CONNECTION"] }),
                stdin: this.settings,
                // Only when the firewall is switched off (firewallEnabled false) or destroyed.
                delete: scriptCommand(SCRIPT, ["--remove"], { sudo: args.sudo }),
            },
            childOf(this, opts),
        );
        this.registerOutputs({});
    }
}
