export interface PgbouncerIniArgs {
    /** database name -> `host port dbname` of the server it pools. */
    databases: { name: string; host: string; port: number; dbname: string }[];
    defaultPoolSize: number;
    maxClientConn: number;
    /** Role allowed to read SHOW POOLS/STATS on the `pgbouncer` admin database. */
    statsUser: string;
}

export const PGBOUNCER_PORT = 6432;

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
        "reserve_pool_size = 2",
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
