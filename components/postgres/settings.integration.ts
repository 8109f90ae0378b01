// The server settings on a real PostgreSQL 15, given as the container gives them
// (`postgres -c key=value ...`): the server accepts every one, pg_stat_statements is
// loaded, and what an operator looks for in `docker logs` is there with the line prefix:
// a failed login naming user, database and client, a slow statement, a lock wait, a
// checkpoint.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { allowedSkip, missingError } from "../../tests/skip";
import { psql, psqlAsync, removeDir, scratchDir, serverBinDir, startCluster, superuserPassword } from "../migration/pg-migrate.harness";
import { postgresCommand, postgresSettings } from "./settings";
import { freePort } from "../../tests/free-port";

const SLOW_MS = 200;
const settings = postgresSettings(256, 20, SLOW_MS);
const postgresBinary = join(serverBinDir, "postgres");
const missing = existsSync(postgresBinary) ? undefined : `${postgresBinary} not found (tools/install-deps.sh installs postgresql-15)`;
/** time [pid] user@database client(port) app=name — what every session's line starts with. */
const sessionPrefix = (user: string, database: string, app: string) =>
    new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3} \\S+ \\[\\d+\\] ${user}@${database} 127\\.0\\.0\\.1\\(\\d+\\) app=${app} `);

describe("Postgres settings on a real PostgreSQL 15", { skip: allowedSkip(missing), concurrency: false }, () => {
    let dir: string;
    let server: ChildProcess | undefined;
    let port: number;
    let log = "";

    /** The lines of the server's stderr (the container's log) that match. */
    const logLines = (pattern: RegExp) => log.split("\n").filter((line) => pattern.test(line));
    async function waitForLog(pattern: RegExp, what: string): Promise<string> {
        for (let i = 0; i < 100; i++) {
            const found = logLines(pattern);
            if (found.length > 0) return found[0]!;
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        assert.fail(`no log line for ${what} (${pattern}); the log:\n${log}`);
    }
    const sql = (query: string, user = "postgres", password = superuserPassword) => psql(port, "postgres", query, user, password);

    before(async () => {
        if (missing) throw missingError(missing);
        dir = scratchDir("postgres-settings-test-");
        // pg-cluster.sh makes the cluster (initdb, the superuser's password); the server is
        // then started as the container starts it, its log on stderr.
        startCluster(join(dir, "cluster")).stop();
        port = await freePort();
        const [, ...args] = postgresCommand(settings);
        const command = [postgresBinary, "-D", join(dir, "cluster", "data"), "-p", String(port), ...args];
        server = process.getuid?.() === 0 ? spawn("runuser", ["-u", "postgres", "--", ...command]) : spawn(command[0]!, command.slice(1));
        server.stderr!.on("data", (chunk) => (log += chunk));
        server.stdout!.on("data", (chunk) => (log += chunk));
        await waitForLog(/database system is ready to accept connections/, "the server's start");
        sql("CREATE ROLE app LOGIN PASSWORD 'AppPassword0123456789'; CREATE TABLE locked (id int)");
    });

    after(() => {
        if (dir) spawnSync("bash", [join(__dirname, "..", "migration", "pg-cluster.sh"), "stop", join(dir, "cluster")], { stdio: "inherit" });
        server?.kill();
        if (dir) removeDir(dir);
    });

    test("the server takes every setting from its command line", () => {
        const fromCommandLine = sql("SELECT name FROM pg_settings WHERE source = 'command line' ORDER BY name").split("\n");
        const missingSettings = Object.keys(settings).filter((name) => !fromCommandLine.includes(name) && name !== "port");
        assert.deepEqual(missingSettings, [], `not in effect from the command line: ${missingSettings.join(", ")}`);
        // psql trims what it prints: the prefix is compared quoted, its trailing space included.
        assert.equal(sql("SELECT quote_literal(current_setting('log_line_prefix'))"), `'${settings.log_line_prefix}'`);
    });

    test("pg_stat_statements is loaded: once the extension is made, it sees the statements", () => {
        sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        sql("SELECT count(*) FROM locked WHERE id = 42");
        const seen = sql("SELECT query FROM pg_stat_statements WHERE query LIKE '%FROM locked WHERE id = $1%'");
        assert.match(seen, /SELECT count\(\*\) FROM locked WHERE id = \$1/);
    });

    test("a failed login is logged as FATAL with the user, the database and the client", async () => {
        const login = spawnSync("psql", ["-X", "-h", "127.0.0.1", "-p", String(port), "-U", "app", "-d", "postgres", "-c", "SELECT 1"], {
            encoding: "utf8",
            env: { ...process.env, PGPASSWORD: "WrongPassword0123456789" },
        });
        assert.notEqual(login.status, 0, "the wrong password was accepted");
        const line = await waitForLog(/FATAL: {2}password authentication failed for user "app"/, "the failed login");
        // The application name is not known yet when authentication fails.
        assert.match(line, sessionPrefix("app", "postgres", "\\[unknown\\]"), line);
    });

    test("a statement slower than log_min_duration_statement is logged with its duration and text", async () => {
        const result = spawnSync("psql", ["-X", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", `SELECT pg_sleep(${(SLOW_MS * 2) / 1000})`], {
            encoding: "utf8",
            env: { ...process.env, PGPASSWORD: superuserPassword, PGAPPNAME: "slow-test" },
        });
        assert.equal(result.status, 0, result.stderr);
        const line = await waitForLog(/LOG: {2}duration: \d+\.\d+ ms {2}statement: SELECT pg_sleep\(0\.4\)/, "the slow statement");
        assert.match(line, sessionPrefix("postgres", "postgres", "slow-test"), line);
    });

    test("a lock wait longer than deadlock_timeout is logged, naming the waiting statement", async () => {
        const holder = psqlAsync(port, "postgres", "BEGIN; LOCK TABLE locked; SELECT pg_sleep(2.5); COMMIT;");
        for (let i = 0; i < 50 && sql("SELECT count(*) FROM pg_locks WHERE relation = 'locked'::regclass AND granted AND mode = 'AccessExclusiveLock'") !== "1"; i++) {
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        const waiter = spawn("psql", ["-X", "-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "-d", "postgres", "-c", "BEGIN; LOCK TABLE locked IN SHARE MODE; COMMIT;"], {
            env: { ...process.env, PGPASSWORD: superuserPassword, PGAPPNAME: "waiter-test" },
        });
        const waited = new Promise((resolve) => waiter.on("close", resolve));
        const line = await waitForLog(/LOG: {2}process \d+ still waiting for ShareLock on relation \d+ of database \d+ after \d+\.\d+ ms/, "the lock wait");
        assert.match(line, sessionPrefix("postgres", "postgres", "waiter-test"), line);
        await waitForLog(/app=waiter-test DETAIL: {2}Process holding the lock: \d+\. Wait queue: \d+\./, "who holds the lock");
        await waitForLog(/app=waiter-test STATEMENT: {2}BEGIN; LOCK TABLE locked IN SHARE MODE; COMMIT;/, "the waiting statement");
        assert.equal((await holder).status, 0);
        assert.equal(await waited, 0);
    });

    test("a checkpoint is logged, by a background process: time and pid only", async () => {
        sql("CHECKPOINT");
        const line = await waitForLog(/LOG: {2}checkpoint complete:/, "the checkpoint");
        assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+ \[\d+\] LOG: {2}checkpoint complete:/, line);
    });
});
