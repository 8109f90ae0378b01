import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Limits } from "../../config";
import { LogRotation, serviceContainer } from "../shared/container";
import { sha256 } from "../shared/naming";
import { childOf } from "../shared/options";
import { SCRIPTS_DIR, settingsText, ShippedScript, VpsTarget } from "../shared/vps-script";

export const BACKUP_SCRIPT = "backup/backup.sh";
export const BACKUP_IMAGE_SCRIPT = "backup/backup-image.sh";
export const PG_MIGRATE_SCRIPT = "migration/pg-migrate";
/** Where pgBackRest's local repository is mounted, in the Postgres and the scheduler container. */
export const REPO_PATH = "/var/lib/pgbackrest";
/** The server's socket directory, shared with the scheduler (pgBackRest reaches Postgres only by socket). */
export const SOCKET_PATH = "/var/run/postgresql";
export const STANZA = "main";

/** Directories on the VPS of one stack's backups: pgbackrest.conf and settings, and metrics for node_exporter. */
export function backupDirs(namePrefix: string): { conf: string; metrics: string } {
    return { conf: `/var/lib/byte-runner/${namePrefix}/backup`, metrics: `/var/lib/byte-runner/${namePrefix}/metrics` };
}

/** The offsite repository (repo2), an S3-compatible store; keys are secrets. */
export interface OffsiteArgs {
    endpoint: string;
    port: number;
    bucket: string;
    region: string;
    /** IP the endpoint resolves to in the containers (/etc/hosts); "" for DNS. */
    address: string;
    /** PEM of a private CA; "" for the system's CAs. */
    caCert: string;
    retentionFull: number;
    accessKeyId: pulumi.Input<string>;
    secretAccessKey: pulumi.Input<string>;
}

export interface BackupArgs extends VpsTarget {
    namePrefix: string;
    /** The pinned Postgres image (postgresImage): the base the pgBackRest image is built from. */
    baseImage: string;
    /** archive_timeout in seconds: the bound on committed data not yet archived (RPO). */
    archiveTimeoutSeconds: number;
    schedules: { full: string; diff: string; drill: string };
    localRetentionFull: number;
    /** Absent: only the local repository (refused in prod unless backupAllowNoOffsite). */
    offsite?: OffsiteArgs;
    limits: Limits;
    logRotation: LogRotation;
    /** The repositories' passphrase from config (backupPassphrase); absent: generated. */
    passphrase?: pulumi.Input<string>;
    /** Names fixed by the Postgres component, known before it exists. */
    postgres: { containerName: string; volumeName: string };
    /** The databases the restore drill compares. */
    databases: string[];
    internalNetwork: pulumi.Input<string>;
    /** A network with a route out: the offsite store is on the internet. */
    egressNetwork: pulumi.Input<string>;
}

/**
 * Everything the Postgres container needs from the backups, made before it: the
 * Postgres + pgBackRest image built on the VPS, the local repository's volume (it
 * outlives the stack, like the data), the encryption passphrase, and pgbackrest.conf
 * with the settings of the scripts (`backup.sh configure`). Then `schedule()` adds what
 * needs the running database: the stanza and the scheduler container.
 */
export class Backup extends pulumi.ComponentResource {
    /** The image tag Postgres and the scheduler run. */
    public readonly image: pulumi.Output<string>;
    public readonly repoVolume: docker.Volume;
    public readonly socketVolume: docker.Volume;
    /** The repositories' encryption passphrase (secret): losing it loses every backup. */
    public readonly passphrase: pulumi.Input<string>;
    public readonly script: ShippedScript;
    /** Set by schedule(). */
    public configure?: command.remote.Command;
    public readonly schedulerName: string;
    public readonly dirs: { conf: string; metrics: string };
    /** Set by schedule(). */
    public stanza?: command.remote.Command;
    public scheduler?: docker.Container;
    private readonly args: BackupArgs;
    /** The settings backup.sh keeps on the host, but the network and services, which schedule() adds. */
    private readonly stored: Record<string, string | number>;
    private readonly pgMigrate: ShippedScript;
    private readonly opts?: pulumi.ComponentResourceOptions;
    private readonly name: string;

    constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:backup:Backup", name, {}, opts);
        this.name = name;
        this.args = args;
        this.opts = opts;
        this.dirs = backupDirs(args.namePrefix);
        this.schedulerName = `${args.namePrefix}-backup`;
        const child = (extra: pulumi.Resource[] = []) => childOf(this, opts, extra);

        // The image: pinned base + pinned pgBackRest, built on the VPS, tagged by recipe and base.
        const imageScript = new ShippedScript(`${name}-upload-backup-image.sh`, BACKUP_IMAGE_SCRIPT, args, child());
        const base = new docker.RemoteImage(`${name}-base-image`, { name: args.baseImage, keepLocally: true }, child());
        const tag = `${args.namePrefix}/postgres-pgbackrest:${sha256(`${imageScript.sha256}\n${args.baseImage}`).slice(0, 16)}`;
        const build = new command.remote.Command(
            `${name}-image`,
            {
                connection: args.connection,
                create: imageScript.command(),
                stdin: settingsText({ BASE_IMAGE: args.baseImage, IMAGE: tag }),
                triggers: [tag, base.imageId],
            },
            child([imageScript.upload, base]),
        );
        this.image = build.stdout.apply(() => tag);

        this.repoVolume = new docker.Volume(
            `${name}-repo`,
            { name: `${args.namePrefix}-pgbackrest`, labels: [{ label: "org.byte-runner.data", value: "pgbackrest-repo1" }] },
            { ...child(), retainOnDelete: true },
        );
        this.socketVolume = new docker.Volume(`${name}-socket`, { name: `${args.namePrefix}-pgsocket` }, child());
        // A kept passphrase (backupPassphrase) reads the repositories of an earlier stack; otherwise a new one.
        this.passphrase = args.passphrase ?? new random.RandomPassword(`${name}-passphrase`, { length: 64, special: false }, child()).result;

        this.script = new ShippedScript(`${name}-upload-backup.sh`, BACKUP_SCRIPT, args, child());
        const pgMigrate = new ShippedScript(`${name}-upload-pg-migrate`, PG_MIGRATE_SCRIPT, args, child());
        const offsite = args.offsite;
        this.stored = {
            PREFIX: args.namePrefix,
            CONF_DIR: this.dirs.conf,
            METRICS_DIR: this.dirs.metrics,
            POSTGRES_CONTAINER: args.postgres.containerName,
            SCHEDULER_CONTAINER: this.schedulerName,
            IMAGE: tag,
            PGDATA_VOLUME: args.postgres.volumeName,
            REPO_VOLUME: `${args.namePrefix}-pgbackrest`,
            SOCKET_VOLUME: `${args.namePrefix}-pgsocket`,
            DATABASES: args.databases.join(" "),
            PG_MIGRATE: pgMigrate.path,
            FULL_SCHEDULE: args.schedules.full,
            DIFF_SCHEDULE: args.schedules.diff,
            DRILL_SCHEDULE: args.schedules.drill,
            LOCAL_RETENTION_FULL: args.localRetentionFull,
            OFFSITE: offsite ? 1 : 0,
            OFFSITE_ENDPOINT: offsite?.endpoint ?? "",
            OFFSITE_PORT: offsite?.port ?? 443,
            OFFSITE_BUCKET: offsite?.bucket ?? "",
            OFFSITE_REGION: offsite?.region ?? "",
            OFFSITE_ADDRESS: offsite?.address ?? "",
            OFFSITE_CA_BASE64: offsite?.caCert ? Buffer.from(offsite.caCert).toString("base64") : "",
            OFFSITE_RETENTION_FULL: offsite?.retentionFull ?? 1,
        };
        this.pgMigrate = pgMigrate;
        this.registerOutputs({ image: this.image, repoVolume: this.repoVolume.name });
    }

    /** The server settings that archive WAL into every repository. */
    public postgresSettings(): Record<string, string> {
        return {
            archive_mode: "on",
            archive_command: `pgbackrest --config=${this.dirs.conf}/pgbackrest.conf --stanza=${STANZA} archive-push %p`,
            archive_timeout: `${this.args.archiveTimeoutSeconds}s`,
            wal_level: "replica",
        };
    }

    /** Mounts the Postgres container needs: the local repository, the config (read-only) and the shared socket. */
    public postgresVolumes(): docker.types.input.ContainerVolume[] {
        return [
            { volumeName: this.repoVolume.name, containerPath: REPO_PATH },
            { volumeName: this.socketVolume.name, containerPath: SOCKET_PATH },
            { hostPath: this.dirs.conf, containerPath: this.dirs.conf, readOnly: true },
        ];
    }

    /** /etc/hosts entries of the containers that reach the offsite store (a store without public DNS). */
    public offsiteHosts(): { host: string; ip: string }[] {
        const offsite = this.args.offsite;
        return offsite && offsite.address !== "" ? [{ host: offsite.endpoint, ip: offsite.address }] : [];
    }

    /** Networks the Postgres container joins for its backups: the egress one when there is an offsite store. */
    public postgresNetworks(): pulumi.Input<string>[] {
        return this.args.offsite ? [this.args.egressNetwork] : [];
    }

    /**
     * What needs the running database: the stanza (created, then checked: WAL must reach
     * every repository) and the scheduler container (cron: backups, drills).
     */
    public schedule(postgres: { container: docker.Container; volume: docker.Volume }, services: { name: string; container: docker.Container }[]): void {
        const args = this.args;
        const child = (extra: pulumi.Resource[] = []) => childOf(this, this.opts, extra);
        // The stored settings name the services a restore stops, by names known before the
        // containers exist (a replaced service is no change here); the secrets go only to
        // pgbackrest.conf (0600).
        const servicesSetting = services.map((s) => s.name).join(" ");
        const settings = pulumi.output(args.egressNetwork).apply((network) => settingsText({ ...this.stored, NETWORK: network, SERVICES: servicesSetting }));
        this.configure = new command.remote.Command(
            `${this.name}-configure`,
            {
                connection: args.connection,
                create: this.script.command(["configure"]),
                stdin: pulumi.secret(
                    pulumi
                        .all([settings, this.passphrase, args.offsite?.accessKeyId ?? "", args.offsite?.secretAccessKey ?? ""])
                        .apply(([text, pass, key, keySecret]) => text + settingsText({ CIPHER_PASS: pass, OFFSITE_KEY: key, OFFSITE_KEY_SECRET: keySecret })),
                ),
            },
            child([this.script.upload, this.pgMigrate.upload, ...services.map((s) => s.container)]),
        );
        this.stanza = new command.remote.Command(
            `${this.name}-stanza`,
            {
                connection: args.connection,
                create: this.script.command(["stanza"]),
                stdin: settings,
                // Again on a new container (a new volume) and on new settings (a new repository, say).
                triggers: [postgres.container.id, settings],
            },
            child([postgres.container, this.configure]),
        );
        this.scheduler = serviceContainer(
            `${this.name}-scheduler`,
            {
                containerName: this.schedulerName,
                image: this.image,
                networks: [
                    { name: args.internalNetwork, aliases: [] },
                    ...(args.offsite ? [{ name: args.egressNetwork, aliases: [] }] : []),
                ],
                command: ["bash", "-c", `exec bash ${this.script.path} scheduler <${this.dirs.conf}/settings`],
                hosts: this.offsiteHosts(),
                // cron is PID 1: while it runs, jobs start on time.
                healthcheck: ["CMD-SHELL", "test -d /proc/1 && grep -q '^Name:[[:space:]]*cron' /proc/1/status"],
                limits: args.limits,
                logRotation: args.logRotation,
                volumes: [
                    // Read-only: the scheduler reads the data files for backups and never writes them.
                    { volumeName: postgres.volume.name, containerPath: "/var/lib/postgresql/data", readOnly: true },
                    { volumeName: this.repoVolume.name, containerPath: REPO_PATH },
                    { volumeName: this.socketVolume.name, containerPath: SOCKET_PATH },
                    { hostPath: this.dirs.conf, containerPath: this.dirs.conf, readOnly: true },
                    { hostPath: this.dirs.metrics, containerPath: this.dirs.metrics },
                    { hostPath: SCRIPTS_DIR, containerPath: SCRIPTS_DIR, readOnly: true },
                ],
            },
            child([this.stanza]),
        );
    }
}
