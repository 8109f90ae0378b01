import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { AppConfig } from "../../config";
import { CADDY_ADMIN_PORT } from "../proxy/ports";
import { CADDY_CONFIG_FILE, caddyContainerName, upstreamFile } from "../proxy/upstreams";
import { LogRotation, serviceContainer } from "../shared/container";
import { serviceImage } from "../shared/image";
import { childOf } from "../shared/options";
import { settingsText, ShippedScript, VpsTarget } from "../shared/vps-script";

/** release.sh, which gates, switches to, drains for and retires an app's releases. */
export const RELEASE_SCRIPT = "app/release.sh";

/**
 * The bounds of a release (release.sh): the gate outlasts the health check's own verdict
 * (start period 30 s + 5 retries x 10 s, components/shared/container.ts), the drain is for
 * requests in flight, and a retired container gets as long to stop as any service.
 */
export const RELEASE_TIMEOUTS = { healthSeconds: 180, drainSeconds: 30, stopSeconds: 30 };

export interface AppServiceArgs extends AppConfig, VpsTarget {
    namePrefix: string;
    /** The service (backend, frontend): its containers' label is `<namePrefix>-<serviceName>`. */
    serviceName: string;
    networks: pulumi.Input<string>[];
    /** Environment shown in clear in previews. */
    clearEnv: Record<string, pulumi.Input<string>>;
    /** Environment kept secret (connection strings, keys). */
    secretEnv: Record<string, pulumi.Input<string>>;
    logRotation: LogRotation;
    /** `ssh` to the host (Host.sshCommand), for building a build context there. */
    sshCommand: pulumi.Input<string>;
}

/**
 * Healthcheck that asks the app itself over HTTP, with the node binary every Node image has;
 * it prints what it got, which a failed release shows (release.sh).
 */
export function httpHealthcheck(port: number, path: string): string[] {
    return [
        "CMD",
        "node",
        "-e",
        `fetch('http://127.0.0.1:${port}${path}').then(r=>{console.log('GET ${path}: HTTP '+r.status);process.exit(r.ok?0:1)},e=>{console.log('GET ${path}: '+((e.cause&&e.cause.code)||e.message));process.exit(1)})`,
    ];
}

/**
 * An application container (backend or frontend), from a registry image or a build context,
 * deployed without downtime: each release is a new container beside the old one (named by
 * the hash of its settings), and the release command gates it on its health check, switches
 * Caddy to it, drains the old one and retires it (release.sh). A release that never becomes
 * healthy fails the update and switches nothing.
 */
export class AppService extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The service's name, the label of its containers (scripts find them by it). */
    public readonly service: string;
    /** The current release's container name. */
    public readonly containerName: pulumi.Output<string>;
    /** The release: gate, switch, drain, retire. Done when the container serves. */
    public readonly release: command.remote.Command;
    /** The file (inside Caddy) with the site's `reverse_proxy` line, for the Caddyfile to import. */
    public readonly upstreamFile: string;
    public readonly clearEnv: Record<string, pulumi.Input<string>>;

    constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:app:AppService", name, {}, opts);
        this.service = `${args.namePrefix}-${args.serviceName}`;
        this.clearEnv = { ...args.clearEnv, PORT: String(args.port) };
        const file = upstreamFile(args.namePrefix, args.serviceName);
        this.upstreamFile = file.caddyPath;
        this.container = serviceContainer(
            name,
            {
                containerName: this.service,
                perRelease: true,
                image: serviceImage(`${name}-image`, args.source, this.service, childOf(this, opts), { sshCommand: args.sshCommand, sudo: args.sudo }),
                // No shared alias: while two releases run, a name both answer to would reach the
                // new one before its gate. Caddy reaches the release by its container name.
                networks: args.networks.map((n) => ({ name: n, aliases: [] })),
                clearEnv: this.clearEnv,
                secretEnv: args.secretEnv,
                healthcheck: httpHealthcheck(args.port, args.healthPath),
                limits: args.limits,
                logRotation: args.logRotation,
                stopTimeoutSeconds: RELEASE_TIMEOUTS.stopSeconds,
            },
            childOf(this, opts),
        );
        this.containerName = this.container.name;

        const script = new ShippedScript(`${name}-upload-release.sh`, RELEASE_SCRIPT, args, childOf(this, opts));
        const settings = this.container.name.apply((container) =>
            settingsText({
                SERVICE: this.service,
                CONTAINER: container,
                UPSTREAM: `${container}:${args.port}`,
                UPSTREAM_FILE: file.hostPath,
                CADDY_CONTAINER: caddyContainerName(args.namePrefix),
                CADDY_CONFIG: CADDY_CONFIG_FILE,
                CADDY_ADMIN: `127.0.0.1:${CADDY_ADMIN_PORT}`,
                HEALTH_TIMEOUT_SECONDS: RELEASE_TIMEOUTS.healthSeconds,
                DRAIN_TIMEOUT_SECONDS: RELEASE_TIMEOUTS.drainSeconds,
                STOP_TIMEOUT_SECONDS: RELEASE_TIMEOUTS.stopSeconds,
            }),
        );
        // A new release is new settings (its container's name): an update, which runs deploy.
        // Never replaced, so `remove` runs only when the service leaves the stack.
        this.release = new command.remote.Command(
            `${name}-release`,
            {
                connection: args.connection,
                create: script.command(["deploy"]),
                update: script.command(["deploy"]),
                delete: script.command(["remove"]),
                stdin: settings,
                logging: "stdoutAndStderr",
            },
            childOf(this, opts, [this.container, script.upload]),
        );
        this.registerOutputs({ containerName: this.containerName });
    }
}
