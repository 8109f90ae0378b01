import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { Limits } from "../../config";
import { dockerCpus } from "./cpus";

export interface LogRotation {
    maxSizeMb: number;
    maxFiles: number;
}

export interface NetworkAttachment {
    /** Docker network name. */
    name: pulumi.Input<string>;
    /** DNS names other containers use to reach this one on that network. */
    aliases: string[];
}

export interface ServiceContainerArgs {
    /** Container name on the host (also its DNS name on its networks). */
    containerName: string;
    /** Image id or reference to run. */
    image: pulumi.Input<string>;
    networks: NetworkAttachment[];
    /** Environment that may appear in previews and state in clear. */
    clearEnv?: Record<string, pulumi.Input<string>>;
    /** Environment that is secret: the whole env list becomes a secret when any is present. */
    secretEnv?: Record<string, pulumi.Input<string>>;
    command?: string[];
    /** docker healthcheck test, e.g. ["CMD", "pg_isready"]. Required: every service has one. */
    healthcheck: string[];
    limits: Limits;
    ports?: docker.types.input.ContainerPort[];
    volumes?: docker.types.input.ContainerVolume[];
    uploads?: pulumi.Input<docker.types.input.ContainerUpload>[];
    shmSizeMb?: number;
    /** /etc/hosts entries: names that resolve nowhere else (a private store's endpoint). */
    hosts?: { host: string; ip: string }[];
    /** json-file log rotation, from hostLogMaxSizeMb and hostLogMaxFiles. */
    logRotation: LogRotation;
    /** Seconds a stopping container gets before SIGKILL; databases want longer. Default 30. */
    stopTimeoutSeconds?: number;
    /** Bind mounts that need options volumes cannot give (read-only with rslave propagation). */
    mounts?: docker.types.input.ContainerMount[];
    /** "host" to see the host's processes (node_exporter); default the container's own. */
    pidMode?: "host";
    /** Open-files limit (soft and hard) for a service that holds many sockets; default the daemon's. */
    openFiles?: number;
}

/** Labels every managed container carries, so operators can find them with `docker ps --filter`. */
export const MANAGED_LABEL = "org.byte-runner.managed-by";

function envList(vars: Record<string, pulumi.Input<string>>): pulumi.Output<string[]> {
    return pulumi.all(Object.entries(vars).map(([k, v]) => pulumi.interpolate`${k}=${v}`));
}

/**
 * One long-running service container with the settings every service shares:
 * restart unless stopped, memory and CPU limits, a healthcheck, labels, and env
 * split into clear and secret parts.
 */
export function serviceContainer(name: string, args: ServiceContainerArgs, opts: pulumi.CustomResourceOptions): docker.Container {
    const clear = envList(args.clearEnv ?? {});
    const hasSecrets = Object.keys(args.secretEnv ?? {}).length > 0;
    const envs = hasSecrets
        ? pulumi.secret(pulumi.all([clear, envList(args.secretEnv ?? {})]).apply(([c, s]) => [...c, ...s].sort()))
        : clear.apply((c) => [...c].sort());
    return new docker.Container(
        name,
        {
            name: args.containerName,
            image: args.image,
            restart: "unless-stopped",
            envs,
            command: args.command,
            memory: args.limits.memoryMb,
            memorySwap: args.limits.memoryMb,
            cpus: dockerCpus(args.limits.cpus),
            healthcheck: { tests: args.healthcheck, interval: "10s", timeout: "5s", retries: 5, startPeriod: "30s" },
            networksAdvanced: args.networks.map((n) => ({ name: n.name, aliases: n.aliases })),
            ports: args.ports ?? [],
            volumes: args.volumes,
            mounts: args.mounts,
            pidMode: args.pidMode,
            ulimits: args.openFiles === undefined ? undefined : [{ name: "nofile", soft: args.openFiles, hard: args.openFiles }],
            uploads: args.uploads,
            shmSize: args.shmSizeMb,
            hosts: args.hosts,
            stopTimeout: args.stopTimeoutSeconds ?? 30,
            // Stop (SIGTERM, then wait) before removing on replace and destroy, not a SIGKILL.
            destroyGraceSeconds: args.stopTimeoutSeconds ?? 30,
            // Wait for a healthy start so that dependents and `pulumi up` see real failures.
            wait: true,
            waitTimeout: 180,
            labels: [{ label: MANAGED_LABEL, value: "pulumi:byte-runner-infra" }],
            // Rotation is also the daemon's default (host bootstrap); set here so it holds on any host.
            logDriver: "json-file",
            logOpts: { "max-size": `${args.logRotation.maxSizeMb}m`, "max-file": String(args.logRotation.maxFiles) },
        },
        // The name is fixed, so a replacement cannot create the new container beside the old
        // one: stop and remove first (data lives in volumes, never in the container).
        { ...opts, deleteBeforeReplace: true },
    );
}
