import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Limits } from "../../config";
import { LogRotation, serviceContainer } from "../shared/container";
import { childOf } from "../shared/options";
import { settingsText, ShippedScript } from "../shared/vps-script";
import { postgresCommand, postgresSettings } from "./settings";

export interface DatabaseSpec {
    /** Role that owns the database and nothing else. */
    role: string;
    database: string;
}

export interface PostgresArgs {
    /** The image, already on the host (the backups build it from the pinned postgresImage). */
    image: pulumi.Input<string>;
    /** Server settings added by other areas (the backups' WAL archiving). */
    extraSettings: Record<string, string>;
    /** Mounts added by other areas (the backups' repository, config and socket). */
    extraVolumes: docker.types.input.ContainerVolume[];
    /** Networks besides the internal one (the backups' way out to the offsite store). */
    extraNetworks: pulumi.Input<string>[];
    /** /etc/hosts entries (the offsite store's endpoint, when it has no public DNS). */
    hosts: { host: string; ip: string }[];
    namePrefix: string;
    internalNetwork: pulumi.Input<string>;
    limits: Limits;
    maxConnections: number;
    /** log_min_duration_statement in ms; -1 disables. */
    logMinDurationMs: number;
    logRotation: LogRotation;
    /** One role and database per application (app, supertokens). */
    databases: DatabaseSpec[];
    /** SSH connection of the host, for the role set-up command. */
    connection: command.types.input.remote.ConnectionArgs;
    sudo: boolean;
}

/** DNS name of the database on the internal network. */
export const POSTGRES_HOST = "postgres";
export const POSTGRES_PORT = 5432;
export const ROLES_SCRIPT = "postgres/db-roles.sh";
/** The read-only statistics role of postgres_exporter (pg_monitor), in the `postgres` database. */
export const MONITOR_ROLE = "monitor";

/** The container's and the data volume's names: other areas (the backups) need them before the container exists. */
export function postgresNames(namePrefix: string): { containerName: string; volumeName: string } {
    return { containerName: `${namePrefix}-postgres`, volumeName: `${namePrefix}-pgdata` };
}

/** The KEY=VALUE settings db-roles.sh reads on stdin (secret: it holds the passwords). */
export function rolesSettings(
    container: string,
    superuserPassword: string,
    roles: (DatabaseSpec & { password: string })[],
    monitorPassword: string,
): string {
    return settingsText({
        CONTAINER: container,
        // A kept volume still has the superuser password of an earlier stack: it is set every time.
        SUPERUSER_PASSWORD: superuserPassword,
        ROLES: roles.map((r) => `${r.role}:${r.database}:${r.password}`).join(" "),
        MONITOR: `${MONITOR_ROLE}:${monitorPassword}`,
    });
}

/**
 * Postgres in a container: a named volume that outlives the container and `pulumi
 * destroy`, settings derived from its memory, slow-query logging, a pg_isready
 * healthcheck, and one role + database per application with generated passwords.
 * Only on the internal network: no port is published.
 */
export class Postgres extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    public readonly volume: docker.Volume;
    public readonly containerName: string;
    /** Generated password per role (secret). */
    public readonly passwords: Record<string, pulumi.Output<string>>;
    public readonly superuserPassword: pulumi.Output<string>;
    /** Password of MONITOR_ROLE (secret). */
    public readonly monitorPassword: pulumi.Output<string>;
    /** The role/database set-up; depend on it before connecting as an app role. */
    public readonly roles: command.remote.Command;
    public readonly rolesScript: ShippedScript;
    public readonly settings: Record<string, string>;

    constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:postgres:Postgres", name, {}, opts);
        this.containerName = postgresNames(args.namePrefix).containerName;
        this.settings = { ...postgresSettings(args.limits.memoryMb, args.maxConnections, args.logMinDurationMs), ...args.extraSettings };

        const password = (id: string) =>
            new random.RandomPassword(`${name}-${id}-password`, { length: 32, special: false }, childOf(this, opts)).result;
        this.superuserPassword = password("superuser");
        this.passwords = Object.fromEntries(args.databases.map((d) => [d.role, password(d.role)]));
        this.monitorPassword = password(MONITOR_ROLE);

        // The data outlives the container and `pulumi destroy`; a new `up` adopts it by name.
        this.volume = new docker.Volume(
            `${name}-data`,
            { name: postgresNames(args.namePrefix).volumeName, labels: [{ label: "org.byte-runner.data", value: "postgres" }] },
            { ...childOf(this, opts), retainOnDelete: true },
        );

        this.container = serviceContainer(
            name,
            {
                containerName: this.containerName,
                image: args.image,
                networks: [{ name: args.internalNetwork, aliases: [POSTGRES_HOST] }, ...args.extraNetworks.map((n) => ({ name: n, aliases: [] }))],
                clearEnv: { PGDATA: "/var/lib/postgresql/data/pgdata" },
                secretEnv: { POSTGRES_PASSWORD: this.superuserPassword },
                command: postgresCommand(this.settings),
                healthcheck: ["CMD-SHELL", "pg_isready -q -U postgres -h 127.0.0.1 -p 5432"],
                limits: args.limits,
                logRotation: args.logRotation,
                volumes: [{ volumeName: this.volume.name, containerPath: "/var/lib/postgresql/data" }, ...args.extraVolumes],
                shmSizeMb: 256,
                hosts: args.hosts,
                // A clean shutdown checkpoint instead of crash recovery on the next start.
                stopTimeoutSeconds: 120,
            },
            childOf(this, opts),
        );

        this.rolesScript = new ShippedScript(`${name}-upload-db-roles.sh`, ROLES_SCRIPT, args, childOf(this, opts));
        this.roles = new command.remote.Command(
            `${name}-roles`,
            {
                connection: args.connection,
                create: this.rolesScript.command(),
                stdin: pulumi.secret(
                    pulumi
                        .all([this.superuserPassword, this.monitorPassword, ...args.databases.map((d) => this.passwords[d.role])])
                        .apply(([superuser, monitor, ...passwords]) =>
                            rolesSettings(
                                this.containerName,
                                superuser,
                                args.databases.map((d, i) => ({ ...d, password: passwords[i] })),
                                monitor,
                            ),
                        ),
                ),
                // Again on a new container (fresh volume); a new script is an update, which runs it again too.
                triggers: [this.container.id],
            },
            childOf(this, opts, [this.container, this.rolesScript.upload]),
        );

        this.registerOutputs({ containerName: this.containerName, volume: this.volume.name });
    }

    /** Superuser URL of a database (secret): for the migration's restore and for operators. */
    public superuserUrl(database: string): pulumi.Output<string> {
        return pulumi.secret(pulumi.interpolate`postgresql://postgres:${this.superuserPassword}@${POSTGRES_HOST}:${POSTGRES_PORT}/${database}`);
    }

    /** postgresql:// URL for a role, straight to the server (not through the pooler). */
    public directUrl(spec: DatabaseSpec): pulumi.Output<string> {
        return pulumi.secret(pulumi.interpolate`postgresql://${spec.role}:${this.passwords[spec.role]}@${POSTGRES_HOST}:${POSTGRES_PORT}/${spec.database}`);
    }
}
