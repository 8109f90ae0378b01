// A real PostgreSQL 15 cluster and a real PgBouncer in front of it, both on free loopback
// ports, PgBouncer configured by the stack's own pgbouncerIni and pgbouncerUserlist: only the
// addresses and paths that differ on this machine are rewritten (listen port, the server's
// host and port, where the userlist lives).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../../tests/free-port";
import { type Cluster, ownedByPostgres, removeDir, scratchDir, startCluster } from "../migration/pg-migrate.harness";
import { pgbouncerIni, pgbouncerUserlist } from "./pgbouncer";

export const PGBOUNCER_BINARY = "/usr/sbin/pgbouncer";

/** [major, minor] of the PgBouncer binary on this machine, or undefined when there is none. */
export function installedPgbouncerVersion(): [number, number] | undefined {
    const r = spawnSync(PGBOUNCER_BINARY, ["--version"], { encoding: "utf8" });
    const m = /PgBouncer (\d+)\.(\d+)/.exec(r.stdout ?? "");
    return m ? [Number(m[1]), Number(m[2])] : undefined;
}

export interface PooledCluster {
    cluster: Cluster;
    /** The app role's URL through PgBouncer and straight to Postgres. */
    pooledUrl: string;
    directUrl: string;
    /** pgbouncer.ini as it was started. */
    ini: string;
    /** What PgBouncer wrote to stderr so far. */
    log(): string;
    stop(): void;
}

const ROLE = "app";
const DATABASE = "app";
const PASSWORD = "AppPool0123456789abcdef";

/** Starts both; `defaultPoolSize` and `maxClientConn` as the stack would pass them. */
export async function startPooledCluster(prefix: string, pool: { defaultPoolSize: number; maxClientConn: number }): Promise<PooledCluster> {
    const dir = scratchDir(prefix);
    const cluster = startCluster(join(dir, "cluster"));
    let bouncer: ChildProcess | undefined;
    let log = "";
    const stop = () => {
        // SIGTERM: PgBouncer's immediate shutdown (SIGINT waits for every server connection).
        bouncer?.kill("SIGTERM");
        cluster.stop();
        removeDir(dir);
    };
    try {
        cluster.psql("postgres", `CREATE ROLE ${ROLE} LOGIN PASSWORD '${PASSWORD}'`);
        cluster.psql("postgres", `CREATE DATABASE ${DATABASE} OWNER ${ROLE}`);
        const port = await freePort();
        const userlist = join(dir, "userlist.txt");
        const ini = pgbouncerIni({
            databases: [{ name: DATABASE, host: "127.0.0.1", port: cluster.port, dbname: DATABASE }],
            ...pool,
            statsUser: "pgbouncer_stats",
            version: installedPgbouncerVersion(),
        })
            .replace(/^listen_addr = .*$/m, "listen_addr = 127.0.0.1")
            .replace(/^listen_port = .*$/m, `listen_port = ${port}`)
            .replace(/^auth_file = .*$/m, `auth_file = ${userlist}\nunix_socket_dir =`);
        writeFileSync(userlist, pgbouncerUserlist({ [ROLE]: PASSWORD }), { mode: 0o600 });
        writeFileSync(join(dir, "pgbouncer.ini"), ini);
        ownedByPostgres(userlist);
        ownedByPostgres(join(dir, "pgbouncer.ini"));
        // PgBouncer refuses to run as root: as root it is told to switch to postgres itself (-u), so
        // that the signal stop() sends reaches PgBouncer, not a runuser that does not pass it on.
        const asPostgres = process.getuid?.() === 0 ? ["-u", "postgres"] : [];
        bouncer = spawn(PGBOUNCER_BINARY, [...asPostgres, join(dir, "pgbouncer.ini")]);
        bouncer.stderr!.on("data", (chunk) => (log += chunk));
        bouncer.stdout!.on("data", (chunk) => (log += chunk));
        for (let i = 0; !/process up/.test(log); i++) {
            if (i > 100 || bouncer.exitCode !== null) throw new Error(`PgBouncer did not start:\n${log}`);
            await sleep(100);
        }
        return {
            cluster,
            pooledUrl: `postgresql://${ROLE}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
            directUrl: `postgresql://${ROLE}:${PASSWORD}@127.0.0.1:${cluster.port}/${DATABASE}`,
            ini,
            log: () => log,
            stop,
        };
    } catch (error) {
        stop();
        throw error;
    }
}
