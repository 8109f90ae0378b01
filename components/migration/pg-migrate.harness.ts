// Helpers for pg-migrate's tests: throwaway PostgreSQL clusters, psql, running the tool.
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { appendFileSync, chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

export const repoRoot = resolve(__dirname, "..", "..");
export const pgMigrate = join(__dirname, "pg-migrate");
export const fixtureDir = join(__dirname, "fixture");
const clusterScript = join(__dirname, "pg-cluster.sh");
/** The server binaries pg-cluster.sh runs (PGCLUSTER_BINDIR, default PostgreSQL 15 from Debian). */
export const serverBinDir = process.env.PGCLUSTER_BINDIR ?? "/usr/lib/postgresql/15/bin";

/** Superuser password of the test clusters: characters that need escaping in a URL. */
export const superuserPassword = "Tr0ub4dor:@/%&3-secret";

export interface Cluster {
    dir: string;
    port: number;
    /** postgresql:// URL for the superuser, password percent-encoded. */
    url(database: string): string;
    psql(database: string, sql: string): string;
    stop(): void;
}

/** A scratch directory the postgres OS user can enter (the clusters live inside it). */
export function scratchDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(dir, 0o755);
    return dir;
}

/**
 * Starts a throw-away cluster in `dir`. `launcher` is prepended to the start command, e.g.
 * a private mount namespace with its own /etc/hosts for the server and its archive_command.
 */
export function startCluster(dir: string, launcher: string[] = []): Cluster {
    const [command, ...args] = [...launcher, "bash", clusterScript, "start", dir];
    const started = spawnSync(command, args, {
        encoding: "utf8",
        env: { ...process.env, PGCLUSTER_PASSWORD: superuserPassword, PGCLUSTER_FAST: "1" },
    });
    if (started.status !== 0) throw new Error(`pg-cluster.sh start failed: ${started.stderr}`);
    const port = Number(started.stdout.trim());
    return {
        dir,
        port,
        url: (database) => `postgresql://postgres:${encodeURIComponent(superuserPassword)}@127.0.0.1:${port}/${database}`,
        psql: (database, sql) => psql(port, database, sql),
        stop: () => {
            spawnSync("bash", [clusterScript, "stop", dir], { stdio: "inherit" });
        },
    };
}

/** Stops the cluster, appends the lines to its postgresql.conf and starts it again (on a new port). */
export function restartWithConfig(cluster: Cluster, lines: string[]): Cluster {
    cluster.stop();
    appendFileSync(join(cluster.dir, "data", "postgresql.conf"), lines.map((line) => `${line}\n`).join(""));
    return startCluster(cluster.dir);
}

/** Restarts the cluster where it is, on its port (fast shutdown): what a crash-free restart of a server looks like to its clients. */
export function restartInPlace(cluster: Cluster): void {
    const pgCtl = [join(serverBinDir, "pg_ctl"), "-D", join(cluster.dir, "data"), "-l", join(cluster.dir, "server.log"), "-m", "fast", "-w", "-t", "60", "restart"];
    const [command, ...args] = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--", ...pgCtl] : pgCtl;
    const result = spawnSync(command, args, { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`pg_ctl restart failed: ${result.stderr}`);
}

/** Gives a path (recursively) to the postgres OS user, who runs the servers, when we are root. */
export function ownedByPostgres(path: string): void {
    if (process.getuid?.() !== 0) return;
    const result = spawnSync("chown", ["-R", "postgres:", path], { encoding: "utf8" });
    if (result.status !== 0) throw new Error(`chown ${path} failed: ${result.stderr}`);
}

/** pg_basebackup of the cluster (WAL streamed along, fast checkpoint) into dataDir. */
export function baseBackup(cluster: Cluster, dataDir: string): void {
    const result = spawnSync(
        join(serverBinDir, "pg_basebackup"),
        ["-h", "127.0.0.1", "-p", String(cluster.port), "-U", "postgres", "-D", dataDir, "-X", "stream", "--checkpoint=fast", "--no-sync"],
        { encoding: "utf8", env: { ...process.env, PGPASSWORD: superuserPassword } },
    );
    if (result.status !== 0) throw new Error(`pg_basebackup failed: ${result.stderr}`);
}

function psqlArgs(port: number, database: string, user: string): string[] {
    return ["-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database];
}

/** Runs SQL as the superuser (or the given role); returns unaligned output. */
export function psql(port: number, database: string, sql: string, user = "postgres", password = superuserPassword): string {
    return psqlRun(port, database, ["-c", sql], user, password);
}

/** Runs a SQL file with psql -v variables as the superuser. */
export function psqlFile(port: number, database: string, file: string, vars: Record<string, string> = {}): string {
    const varArgs = Object.entries(vars).flatMap(([name, value]) => ["-v", `${name}=${value}`]);
    return psqlRun(port, database, [...varArgs, "-f", file], "postgres", superuserPassword);
}

function psqlRun(port: number, database: string, input: string[], user: string, password: string): string {
    const result = spawnSync("psql", [...psqlArgs(port, database, user), ...input], {
        encoding: "utf8",
        env: { ...process.env, PGPASSWORD: password },
        maxBuffer: 64 * 1024 * 1024,
    });
    if (result.status !== 0) throw new Error(`psql failed on ${database}: ${result.stderr}`);
    return result.stdout.trim();
}

/** Runs SQL as the superuser without waiting (for faults injected while pg-migrate runs). */
export function psqlAsync(port: number, database: string, sql: string): Promise<RunResult> {
    return collect(spawn("psql", [...psqlArgs(port, database, "postgres"), "-c", sql], { env: { ...process.env, PGPASSWORD: superuserPassword } }));
}

/** A superuser session that stays open: statements are sent one at a time (a transaction
 *  can be left open while pg-migrate runs); end() closes it and returns its output. */
export interface Session {
    send(sql: string): void;
    end(): Promise<RunResult>;
}

export function openSession(port: number, database: string): Session {
    const child = spawn("psql", psqlArgs(port, database, "postgres"), { env: { ...process.env, PGPASSWORD: superuserPassword } });
    const result = collect(child);
    return {
        send: (sql) => child.stdin.write(`${sql}\n`),
        end: () => {
            child.stdin.end();
            return result;
        },
    };
}

export interface RunResult {
    status: number | null;
    stdout: string;
    stderr: string;
}

/** pg-migrate runs not yet ended: a failed test can leave one waiting (sync retries a target that is gone). */
const runningPgMigrates = new Set<ChildProcessWithoutNullStreams>();

/** Runs pg-migrate with exactly the given environment on top of PATH/HOME (ended after 15 min at most). */
export function runPgMigrate(args: string[], env: Record<string, string>, path = process.env.PATH ?? ""): Promise<RunResult> {
    const child = spawn(pgMigrate, args, { env: { PATH: path, HOME: process.env.HOME ?? "/root", ...env }, timeout: 15 * 60_000 });
    runningPgMigrates.add(child);
    child.on("close", () => runningPgMigrates.delete(child));
    return collect(child);
}

function collect(child: ChildProcessWithoutNullStreams): Promise<RunResult> {
    return new Promise((resolvePromise, reject) => {
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.stderr.on("data", (chunk) => (stderr += chunk));
        child.on("error", reject);
        child.on("close", (status) => resolvePromise({ status, stdout, stderr }));
    });
}

/** Command lines of every process now running (what `ps` would show anyone). */
export function allCommandLines(): string[] {
    const lines: string[] = [];
    for (const entry of readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) continue;
        try {
            lines.push(readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " "));
        } catch {
            // the process ended meanwhile
        }
    }
    return lines;
}

/** Row count and an order-independent content hash per table of the given schema. */
export function tableFingerprints(cluster: Cluster, database: string, schema = "public"): Map<string, string> {
    const tables = cluster
        .psql(database, `SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = '${schema}' ORDER BY 1`)
        .split("\n")
        .filter(Boolean);
    const fingerprints = new Map<string, string>();
    for (const table of tables) {
        fingerprints.set(table, cluster.psql(database, `SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)), 0) FROM ${table} t`));
    }
    return fingerprints;
}

export function removeDir(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
}

/** Polls until the check holds (a check that throws, e.g. while a server starts, counts as not yet). */
export async function waitFor(check: () => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            if (check()) return;
        } catch {
            // not yet
        }
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${check.toString()}`);
        await sleep(50);
    }
}

/** The Supabase-shaped fixture into a new database "app" of the source, with `eventRows` rows in public.events. */
export function loadSupabaseFixture(source: Cluster, eventRows: number): void {
    source.psql("postgres", "CREATE DATABASE app");
    psqlFile(source.port, "app", join(fixtureDir, "supabase-source.sql"));
    psqlFile(source.port, "app", join(fixtureDir, "events.sql"), { first: "1", rows: String(eventRows) });
}

/** As in the stack: the app's role owns the app's (empty) database "app" on the target. */
export function createAppDatabase(target: Cluster, role: string, password: string): void {
    target.psql("postgres", `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    target.psql("postgres", `CREATE DATABASE app OWNER ${role}`);
}

/** Stops the clusters and removes their directory. */
export function removeClusters(root: string | undefined, ...clusters: (Cluster | undefined)[]): void {
    // A run a failed test left behind would otherwise keep the test file from ever exiting.
    for (const child of runningPgMigrates) child.kill("SIGTERM");
    for (const cluster of clusters) cluster?.stop();
    if (root) removeDir(root);
}
