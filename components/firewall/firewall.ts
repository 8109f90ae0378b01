import * as command from "@pulumi/command";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { childOf } from "../shared/options";
import { settingsText, ShippedScript } from "../shared/vps-script";

/** Every value comes from config or from the component that owns it; none has a default here. */
export interface FirewallArgs {
    connection: command.types.input.remote.ConnectionArgs;
    sudo: boolean;
    sshPort: number;
    /** CIDRs allowed to SSH; empty = everywhere (warned about in every preview). */
    adminCidrs: string[];
    /** Ports open to the web only from Cloudflare's ranges (components/firewall/cloudflare-ips.txt). */
    cloudflareOnly: boolean;
    /** Ports open to the web: the ones the proxy publishes (PROXY_PORTS). */
    publicPorts: number[];
}

export const FIREWALL_SCRIPT = "firewall/firewall.sh";
/** Where firewall.sh keeps the ruleset it loads at boot. */
export const FIREWALL_PERSIST_DIR = "/etc/byte-runner";

/** Cloudflare's published ranges, from the committed list (no API call, ever). */
export function cloudflareRanges(): string[] {
    return fs
        .readFileSync(path.join(__dirname, "cloudflare-ips.txt"), "utf8")
        .split("\n")
        .map((l) => l.replace(/#.*/, "").trim())
        .filter((l) => l !== "");
}

/** The KEY=VALUE settings firewall.sh reads on stdin. */
export function firewallSettings(a: Pick<FirewallArgs, "sshPort" | "adminCidrs" | "cloudflareOnly" | "publicPorts">): string {
    return settingsText({
        SSH_PORT: a.sshPort,
        ADMIN_CIDRS: a.adminCidrs.join(" "),
        PUBLIC_PORTS: a.publicPorts.join(" "),
        CLOUDFLARE_ONLY: a.cloudflareOnly ? 1 : 0,
        CLOUDFLARE_RANGES: a.cloudflareOnly ? cloudflareRanges().join(" ") : "",
        PERSIST_DIR: FIREWALL_PERSIST_DIR,
        // A change that would shut out the SSH session applying it is refused, never forced from here.
        ALLOW_LOCKOUT: 0,
    });
}

/**
 * The host firewall (nftables, one table replaced atomically), applied over SSH. Its
 * rules change when the script or the settings do, and then it is applied again;
 * the SSH session applying it keeps working.
 */
export class Firewall extends pulumi.ComponentResource {
    public readonly apply: command.remote.Command;
    public readonly script: ShippedScript;
    public readonly settings: string;

    constructor(name: string, args: FirewallArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:firewall:Firewall", name, {}, opts);
        if (args.adminCidrs.length === 0) {
            pulumi.log.warn("firewallAdminCidrs is empty: SSH is open to the whole internet (keys only). Set it to your admin networks.", this);
        }
        this.settings = firewallSettings(args);
        this.script = new ShippedScript(`${name}-upload-firewall.sh`, FIREWALL_SCRIPT, args, childOf(this, opts));
        this.apply = new command.remote.Command(
            `${name}-apply`,
            {
                connection: args.connection,
                // A new script or new settings change these inputs: an update, which applies
                // the new rules atomically over the old. No triggers: a replacement would
                // create the new rules and then run the old resource's delete (--remove).
                create: this.script.command(["--apply"], ["SSH_CONNECTION"]),
                stdin: this.settings,
                // Only when the firewall is switched off (firewallEnabled false) or destroyed.
                delete: this.script.command(["--remove"]),
            },
            childOf(this, opts, [this.script.upload]),
        );
        this.registerOutputs({});
    }
}
