import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { AppConfig } from "../../config";
import { LogRotation, NetworkAttachment, serviceContainer } from "../shared/container";
import { serviceImage } from "../shared/image";
import { childOf } from "../shared/options";

export interface AppServiceArgs extends AppConfig {
    namePrefix: string;
    /** DNS name on its networks (backend, frontend). */
    serviceName: string;
    networks: pulumi.Input<string>[];
    /** Environment shown in clear in previews. */
    clearEnv: Record<string, pulumi.Input<string>>;
    /** Environment kept secret (connection strings, keys). */
    secretEnv: Record<string, pulumi.Input<string>>;
    logRotation: LogRotation;
}

/** Healthcheck that asks the app itself over HTTP, with the node binary every Node image has. */
export function httpHealthcheck(port: number, path: string): string[] {
    return [
        "CMD",
        "node",
        "-e",
        `fetch('http://127.0.0.1:${port}${path}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`,
    ];
}

/** An application container (backend or frontend), from a registry image or a build context. */
export class AppService extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The container's name on the host, known before it exists. */
    public readonly containerName: string;
    /** `host:port` other containers and the proxy use. */
    public readonly upstream: string;
    public readonly clearEnv: Record<string, pulumi.Input<string>>;

    constructor(name: string, args: AppServiceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:app:AppService", name, {}, opts);
        this.containerName = `${args.namePrefix}-${args.serviceName}`;
        this.upstream = `${args.serviceName}:${args.port}`;
        this.clearEnv = { ...args.clearEnv, PORT: String(args.port) };
        const networks: NetworkAttachment[] = args.networks.map((n) => ({ name: n, aliases: [args.serviceName] }));
        this.container = serviceContainer(
            name,
            {
                containerName: this.containerName,
                image: serviceImage(`${name}-image`, args.source, `${args.namePrefix}-${args.serviceName}`, childOf(this, opts)),
                networks,
                clearEnv: this.clearEnv,
                secretEnv: args.secretEnv,
                healthcheck: httpHealthcheck(args.port, args.healthPath),
                limits: args.limits,
                logRotation: args.logRotation,
            },
            childOf(this, opts),
        );
        this.registerOutputs({ upstream: this.upstream });
    }
}
