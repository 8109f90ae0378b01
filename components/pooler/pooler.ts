import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Limits } from "../../config";
import { LogRotation, serviceContainer } from "../shared/container";
import { serviceImage } from "../shared/image";
import { PGBOUNCER_PORT, pgbouncerIni, pgbouncerOpenFiles, pgbouncerUserlist, pgbouncerVersion } from "./pgbouncer";
import { childOf } from "../shared/options";

export interface PoolerArgs {
    image: string;
    namePrefix: string;
    internalNetwork: pulumi.Input<string>;
    /** The database it pools and the role the app uses. */
    database: string;
    role: string;
    rolePassword: pulumi.Input<string>;
    serverHost: string;
    serverPort: number;
    /** default_pool_size; per stack (20 staging and local, 40 prod; INFRASTRUCTURE.md, Pool numbers). */
    defaultPoolSize: number;
    /** max_client_conn; the container's open-files limit is raised to match. */
    maxClientConn: number;
    limits: Limits;
    logRotation: LogRotation;
}

export const POOLER_HOST = "pgbouncer";
const STATS_USER = "pgbouncer_stats";

/**
 * PgBouncer in transaction mode in front of the app's database. The app's DATABASE_URL
 * goes through it; SHOW POOLS is readable from the internal network as a stats user.
 */
export class Pooler extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The container's name on the host, known before it exists. */
    public readonly containerName: string;
    /** DATABASE_URL of the app, through the pooler (secret). */
    public readonly databaseUrl: pulumi.Output<string>;
    /** URL of the `pgbouncer` admin database for SHOW POOLS / SHOW STATS (secret). */
    public readonly statsUrl: pulumi.Output<string>;
    public readonly ini: string;

    constructor(name: string, args: PoolerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:pooler:Pooler", name, {}, opts);
        this.containerName = `${args.namePrefix}-pgbouncer`;
        const statsPassword = new random.RandomPassword(`${name}-stats-password`, { length: 32, special: false }, childOf(this, opts)).result;
        const iniArgs = {
            databases: [{ name: args.database, host: args.serverHost, port: args.serverPort, dbname: args.database }],
            defaultPoolSize: args.defaultPoolSize,
            maxClientConn: args.maxClientConn,
            statsUser: STATS_USER,
            version: pgbouncerVersion(args.image),
        };
        this.ini = pgbouncerIni(iniArgs);
        const userlist = pulumi.secret(
            pulumi.all([args.rolePassword, statsPassword]).apply(([app, stats]) => pgbouncerUserlist({ [args.role]: app, [STATS_USER]: stats })),
        );
        this.container = serviceContainer(
            name,
            {
                containerName: this.containerName,
                image: serviceImage(`${name}-image`, args.image, "", childOf(this, opts)),
                networks: [{ name: args.internalNetwork, aliases: [POOLER_HOST] }],
                command: ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"],
                uploads: [
                    { file: "/etc/pgbouncer/pgbouncer.ini", content: this.ini, permissions: "0644" },
                    // Readable by the image's non-root pgbouncer user; lives only inside the container.
                    { file: "/etc/pgbouncer/userlist.txt", content: userlist, permissions: "0644" },
                ],
                healthcheck: ["CMD-SHELL", `pg_isready -q -h 127.0.0.1 -p ${PGBOUNCER_PORT}`],
                limits: args.limits,
                openFiles: pgbouncerOpenFiles(iniArgs),
                logRotation: args.logRotation,
            },
            childOf(this, opts),
        );
        this.databaseUrl = pulumi.secret(
            pulumi.interpolate`postgresql://${args.role}:${args.rolePassword}@${POOLER_HOST}:${PGBOUNCER_PORT}/${args.database}`,
        );
        this.statsUrl = pulumi.secret(pulumi.interpolate`postgresql://${STATS_USER}:${statsPassword}@${POOLER_HOST}:${PGBOUNCER_PORT}/pgbouncer`);
        this.registerOutputs({});
    }
}
