import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Limits } from "../../config";
import { dockerCpus } from "./cpus";
import { sha256 } from "./naming";

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
    /**
     * Container name on the host (also its DNS name on its networks). With `perRelease`, the
     * service's name: the container is `<containerName>-<hash of its settings>`.
     */
    containerName: string;
    /**
     * One container per release (the apps): the name carries a hash of everything the container
     * is made of (image, env, limits...), so a change creates the new container beside the old
     * one, which keeps serving. The container is labelled SERVICE_LABEL=containerName (scripts
     * and tools find it by that, never by name), Pulumi does not wait for its health (the
     * release's gate does, and shows the health output) and never removes it: the release
     * retires the old one once the proxy has switched and drained (components/app/release.sh).
     */
    perRelease?: boolean;
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
    /** Kernel settings of the container's own network namespace (`net.*`), by name. */
    sysctls?: Record<string, string>;
}

/** Labels every managed container carries, so operators can find them with `docker ps --filter`. */
export const MANAGED_LABEL = "org.byte-runner.managed-by";
/** The service a per-release container belongs to (`byte-runner-<stack>-backend`): how it is found. */
export const SERVICE_LABEL = "org.byte-runner.service";
/** Bytes of a per-release container's name suffix (twice as many hex digits). */
const RELEASE_ID_BYTES = 5;

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
    const stopTimeout = args.stopTimeoutSeconds ?? 30;
    const settings = {
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
        sysctls: args.sysctls,
        uploads: args.uploads,
        shmSize: args.shmSizeMb,
        hosts: args.hosts,
        stopTimeout,
        // Stop (SIGTERM, then wait) before removing on replace and destroy, not a SIGKILL.
        destroyGraceSeconds: stopTimeout,
        labels: [
            { label: MANAGED_LABEL, value: "pulumi:byte-runner-infra" },
            ...(args.perRelease ? [{ label: SERVICE_LABEL, value: args.containerName }] : []),
        ],
        // Rotation is also the daemon's default (host bootstrap); set here so it holds on any host.
        logDriver: "json-file",
        logOpts: { "max-size": `${args.logRotation.maxSizeMb}m`, "max-file": String(args.logRotation.maxFiles) },
    };
    if (args.perRelease) {
        // A new id whenever any setting changes (the hash covers them all, secrets included: a
        // hash, never the value), so any change that replaces the container also names it anew;
        // random rather than the hash itself, so that going back to earlier settings (a rollback
        // after a failed release, whose predecessor still runs) never reuses a running name.
        const settingsHash = pulumi.unsecret(pulumi.output(settings).apply((resolved) => sha256(JSON.stringify(resolved))));
        const release = new random.RandomId(`${name}-release-id`, { byteLength: RELEASE_ID_BYTES, keepers: { settings: settingsHash } }, { parent: opts.parent });
        return new docker.Container(
            name,
            // The release's gate waits for the health check (bounded, and shows its output).
            { ...settings, name: pulumi.interpolate`${args.containerName}-${release.hex}`, wait: false },
            // Created beside the old one; Pulumi forgets the old one, the release retires it after
            // the switch and the drain (a failed release never removes what still serves).
            { ...opts, deleteBeforeReplace: false, retainOnDelete: true },
        );
    }
    return new docker.Container(
        name,
        // Wait for a healthy start so that dependents and `pulumi up` see real failures.
        { ...settings, name: args.containerName, wait: true, waitTimeout: 180 },
        // The name is fixed, so a replacement cannot create the new container beside the old
        // one: stop and remove first (data lives in volumes, never in the container).
        { ...opts, deleteBeforeReplace: true },
    );
}
