import { imageTag } from "../../values";

export interface PgbouncerIniArgs {
    /** database name -> `host port dbname` of the server it pools. */
    databases: { name: string; host: string; port: number; dbname: string }[];
    defaultPoolSize: number;
    maxClientConn: number;
    /** Role allowed to read SHOW POOLS/STATS on the `pgbouncer` admin database. */
    statsUser: string;
    /** The image's PgBouncer release ([major, minor], pgbouncerVersion); settings newer releases know are written only for them. */
    version: [number, number] | undefined;
}

export const PGBOUNCER_PORT = 6432;

/**
 * Extra server connections a pool may open once a client has waited RESERVE_POOL_TIMEOUT_SECONDS:
 * a burst is absorbed instead of queued, and Postgres must have room for them (config.ts RULES).
 */
export const RESERVE_POOL_SIZE = 5;
const RESERVE_POOL_TIMEOUT_SECONDS = 2;

/**
 * A client that waits this long for a server connection is disconnected with an error
 * (PgBouncer's default is 120 s): a stuck pool fails requests instead of hanging them for
 * two minutes. The PgBouncerClientsWaiting alert must fire before it (config.ts RULES).
 */
export const QUERY_WAIT_TIMEOUT_SECONDS = 30;

/** Client connections that are not the app's: the monitoring exporter and one operator on the admin console. */
export const POOLER_ADMIN_CLIENTS = 2;

/** Named prepared statements in transaction mode: PgBouncer 1.21 and later track them per client. */
export const PREPARED_STATEMENTS_SINCE: [number, number] = [1, 21];
export const MAX_PREPARED_STATEMENTS = 200;

/** File descriptors PgBouncer needs: one per client, one per server connection, a margin for the admin console and logs. */
export function pgbouncerOpenFiles(a: Pick<PgbouncerIniArgs, "maxClientConn" | "defaultPoolSize" | "databases">): number {
    return a.maxClientConn + a.databases.length * (a.defaultPoolSize + RESERVE_POOL_SIZE) + 100;
}

/** [major, minor] of a PgBouncer image's tag (edoburu/pgbouncer:v1.24.1-p1, byte-runner-local/pgbouncer:1.18), or undefined. */
export function pgbouncerVersion(image: string): [number, number] | undefined {
    const m = /^v?(\d+)\.(\d+)/.exec(imageTag(image));
    return m ? [Number(m[1]), Number(m[2])] : undefined;
}

const atLeast = (v: [number, number] | undefined, since: [number, number]) => v !== undefined && (v[0] > since[0] || (v[0] === since[0] && v[1] >= since[1]));

/** pgbouncer.ini for transaction pooling with SCRAM to both clients and server. */
export function pgbouncerIni(a: PgbouncerIniArgs): string {
    return [
        "[databases]",
        ...a.databases.map((d) => `${d.name} = host=${d.host} port=${d.port} dbname=${d.dbname}`),
        "",
        "[pgbouncer]",
        "listen_addr = 0.0.0.0",
        `listen_port = ${PGBOUNCER_PORT}`,
        "auth_type = scram-sha-256",
        "auth_file = /etc/pgbouncer/userlist.txt",
        "pool_mode = transaction",
        `default_pool_size = ${a.defaultPoolSize}`,
        `max_client_conn = ${a.maxClientConn}`,
        `reserve_pool_size = ${RESERVE_POOL_SIZE}`,
        `reserve_pool_timeout = ${RESERVE_POOL_TIMEOUT_SECONDS}`,
        `query_wait_timeout = ${QUERY_WAIT_TIMEOUT_SECONDS}`,
        // A client or server that vanished without a FIN (a killed container, a dropped NAT
        // entry) is found in about 2 minutes instead of the kernel's 2 hours.
        "tcp_keepalive = 1",
        "tcp_keepidle = 60",
        "tcp_keepintvl = 10",
        "tcp_keepcnt = 6",
        ...(atLeast(a.version, PREPARED_STATEMENTS_SINCE) ? [`max_prepared_statements = ${MAX_PREPARED_STATEMENTS}`] : []),
        `stats_users = ${a.statsUser}`,
        "server_reset_query_always = 0",
        // Drivers such as node-postgres and JDBC send these; pgbouncer would refuse them otherwise.
        "ignore_startup_parameters = extra_float_digits,options",
        "log_connections = 0",
        "log_disconnections = 0",
        "",
    ].join("\n");
}

/** userlist.txt: `"user" "password"` lines (a secret file). */
export function pgbouncerUserlist(users: Record<string, string>): string {
    return Object.entries(users)
        .map(([user, password]) => `"${user}" "${password}"`)
        .join("\n")
        .concat("\n");
}
