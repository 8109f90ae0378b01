// byte-runner-exporter.js for real, as a child process on a loopback port: its container
// metrics against the machine's Docker engine (throw-away mon-test-* containers that are
// healthy, failing their healthcheck, stopped, restarted by their policy, OOM-killed), and
// its PgBouncer metrics against Debian's PgBouncer 1.18 with SCRAM in front of a throw-away
// PostgreSQL 15 (a client holding the only server connection, a second one waiting).
// Every /metrics answer is checked by `promtool check metrics`. No password may appear in
// what the exporter prints or serves, including when the login fails.
//
// BYTE_RUNNER_EXPORTER_NODE picks the node that runs the exporter (default: the one running
// the tests), e.g. /usr/bin/node to prove it on Debian's nodejs 18.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { allowedSkip, missingError } from "../../../tests/skip";
import { type Cluster, removeDir, scratchDir, startCluster } from "../../migration/pg-migrate.harness";
import { freePort } from "../../../tests/free-port";

const exporterScript = join(__dirname, "byte-runner-exporter.js");
const exporterNode = process.env.BYTE_RUNNER_EXPORTER_NODE || process.execPath;
/** Built by tools/local-vps/images.sh; never pulled here. */
const IMAGE = "byte-runner-local/debian:bookworm";
const runId = randomBytes(3).toString("hex");

const has = (program: string) => spawnSync("sh", ["-c", `command -v ${program}`]).status === 0;

interface Sample {
    name: string;
    labels: Record<string, string>;
    value: number;
}

/** The samples of an exposition body (our own output: one sample per line, no timestamps). */
function parseExposition(body: string): Sample[] {
    const samples: Sample[] = [];
    for (const line of body.split("\n")) {
        if (!line || line.startsWith("#")) continue;
        const match = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
        assert.ok(match, `not an exposition line: ${line}`);
        const labels: Record<string, string> = {};
        for (const pair of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
        samples.push({ name: match[1], labels, value: Number(match[3]) });
    }
    return samples;
}

/** The value of the one sample with exactly these labels (a subset match), or undefined. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
    const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value));
    assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
    return found[0]?.value;
}

class Exporter {
    private readonly child: ChildProcess;
    /** Everything it printed on stdout and stderr. */
    output = "";
    /** Every /metrics body it served. */
    served = "";
    port = 0;

    constructor(env: Record<string, string>) {
        this.child = spawn(exporterNode, [exporterScript], {
            env: { PATH: process.env.PATH ?? "", PORT: "0", LISTEN_ADDRESS: "127.0.0.1", ...env },
            stdio: ["ignore", "pipe", "pipe"],
        });
        this.child.stdout!.on("data", (chunk) => (this.output += chunk));
        this.child.stderr!.on("data", (chunk) => (this.output += chunk));
    }

    async started(): Promise<this> {
        const deadline = Date.now() + 10_000;
        while (Date.now() < deadline) {
            const match = /listening on 127\.0\.0\.1:(\d+)/.exec(this.output);
            if (match) {
                this.port = Number(match[1]);
                return this;
            }
            if (this.child.exitCode !== null) break;
            await sleep(50);
        }
        throw new Error(`the exporter did not start (exit ${this.child.exitCode}):\n${this.output}`);
    }

    async get(path: string): Promise<{ status: number; body: string; contentType: string }> {
        const response = await fetch(`http://127.0.0.1:${this.port}${path}`);
        const body = await response.text();
        if (path === "/metrics") this.served += body;
        return { status: response.status, body, contentType: response.headers.get("content-type") ?? "" };
    }

    /** One scrape, checked by promtool (format and naming), as samples. */
    async scrape(): Promise<Sample[]> {
        const { status, body, contentType } = await this.get("/metrics");
        assert.equal(status, 200, body);
        assert.equal(contentType, "text/plain; version=0.0.4; charset=utf-8");
        const lint = spawnSync("promtool", ["check", "metrics"], { input: body, encoding: "utf8" });
        assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}\n${body}`);
        return parseExposition(body);
    }

    /** Scrapes until `check` passes (it throws until then); rethrows its last failure at the deadline. */
    async waitFor(check: (samples: Sample[]) => void, timeoutMs = 30_000): Promise<Sample[]> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const samples = await this.scrape();
            try {
                check(samples);
                return samples;
            } catch (error) {
                if (Date.now() > deadline) throw error;
            }
            await sleep(500);
        }
    }

    stop(): void {
        this.child.kill();
    }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    for (const deadline = Date.now() + timeoutMs; !condition(); await sleep(50)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    }
}

function mustRun(command: string, args: string[]): string {
    const result = spawnSync(command, args, { encoding: "utf8" });
    assert.equal(result.status, 0, `${command} ${args.join(" ")} failed: ${result.stderr}`);
    return result.stdout.trim();
}

function missingForDocker(): string | undefined {
    if (!has("docker")) return "docker is not installed (apt-get install docker.io)";
    if (!has("promtool")) return "promtool is not installed (apt-get install prometheus)";
    if (spawnSync("docker", ["version"]).status !== 0) return "no Docker engine answers on /var/run/docker.sock (tools/local-vps/dockerd.sh start)";
    if (spawnSync("docker", ["image", "inspect", IMAGE]).status !== 0) return `the image ${IMAGE} is missing (tools/local-vps/images.sh builds it)`;
    return undefined;
}

describe("byte-runner-exporter: containers, from the Docker engine", { skip: allowedSkip(missingForDocker()), concurrency: false }, () => {
    const prefix = `mon-test-${runId}-`;
    const started = Date.now() / 1000;
    let exporter: Exporter;

    const run = (name: string, args: string[], command: string[]) => mustRun("docker", ["run", "-d", "--name", name, ...args, IMAGE, ...command]);

    before(async () => {
        const missing = missingForDocker();
        if (missing) throw missingError(`the exporter's container suite cannot run: ${missing}`);
        run(`${prefix}healthy`, ["--health-cmd", "true", "--health-interval", "1s"], ["sleep", "infinity"]);
        run(`${prefix}unhealthy`, ["--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1"], ["sleep", "infinity"]);
        run(`${prefix}plain`, [], ["sleep", "infinity"]);
        run(`${prefix}exited`, [], ["true"]);
        run(`${prefix}crashing`, ["--restart", "on-failure:2"], ["sh", "-c", "sleep 0.3; exit 1"]);
        // tail keeps every byte of /dev/zero, which has no line end, until the memory cgroup kills it.
        run(`${prefix}oom`, ["--memory", "16m", "--memory-swap", "16m"], ["tail", "/dev/zero"]);
        // An app's two releases during a deploy: labelled with the service, the newest stands for it.
        run(`${prefix}app-0000000001`, ["--label", `org.byte-runner.service=${prefix}app`], ["true"]);
        spawnSync("sleep", ["1.1"]); // Docker lists creation times in whole seconds.
        run(`${prefix}app-0000000002`, ["--label", `org.byte-runner.service=${prefix}app`], ["sleep", "infinity"]);
        // Then a release that failed its gate (stopped by it): newer, but not the one that serves.
        spawnSync("sleep", ["1.1"]);
        run(`${prefix}app-0000000003`, ["--label", `org.byte-runner.service=${prefix}app`], ["true"]);
        // Shares the start of the name, not the prefix: must not be reported.
        run(`mon-test-${runId}x-outsider`, [], ["sleep", "infinity"]);
        exporter = await new Exporter({ CONTAINER_PREFIX: prefix }).started();
    });

    after(() => {
        exporter?.stop();
        const ours = spawnSync("docker", ["ps", "-aq", "--filter", `name=^mon-test-${runId}`], { encoding: "utf8" }).stdout.split("\n").filter(Boolean);
        if (ours.length > 0) spawnSync("docker", ["rm", "-f", ...ours], { stdio: "ignore" });
    });

    test("/health answers, /metrics carries no pgbouncer metric when PGBOUNCER_URL is not set", async () => {
        assert.deepEqual(await exporter.get("/health"), { status: 200, body: "ok\n", contentType: "text/plain" });
        assert.equal((await exporter.get("/nothing")).status, 404);
        const samples = await exporter.scrape();
        assert.deepEqual(samples.filter((s) => s.name.startsWith("byte_runner_pgbouncer_")), []);
        assert.equal(valueOf(samples, "byte_runner_exporter_scrape_errors_total", { source: "docker" }), 0);
    });

    test("only containers named with the prefix are reported, by the rest of their name", async () => {
        const samples = await exporter.scrape();
        const names = new Set(samples.filter((s) => s.name === "byte_runner_container_running").map((s) => s.labels.name));
        assert.deepEqual([...names].sort(), ["app", "crashing", "exited", "healthy", "oom", "plain", "unhealthy"]);
    });

    test("an app's releases (one container each, labelled with the service) are reported once, by the service, as the newest running release", async () => {
        const samples = await exporter.scrape();
        const running = samples.filter((s) => s.name === "byte_runner_container_running" && s.labels.name.startsWith("app"));
        assert.deepEqual(running.map((s) => [s.labels.name, s.value]), [["app", 1]], "an exited release (older, or a newer failed one) stands for the app, or several are reported");
    });

    test("a passing healthcheck: running 1, healthy 1, status healthy; started just now", async () => {
        const samples = await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_container_health_status", { name: "healthy", status: "healthy" }), 1));
        assert.equal(valueOf(samples, "byte_runner_container_running", { name: "healthy" }), 1);
        assert.equal(valueOf(samples, "byte_runner_container_healthy", { name: "healthy" }), 1);
        for (const status of ["unhealthy", "starting", "none"]) assert.equal(valueOf(samples, "byte_runner_container_health_status", { name: "healthy", status }), 0, status);
        const startedAt = valueOf(samples, "byte_runner_container_started_timestamp_seconds", { name: "healthy" })!;
        assert.ok(startedAt > started - 5 && startedAt < Date.now() / 1000, `started ${startedAt}, the suite began at ${started}`);
        assert.equal(valueOf(samples, "byte_runner_container_restarts_total", { name: "healthy" }), 0);
        assert.equal(valueOf(samples, "byte_runner_container_oom_killed", { name: "healthy" }), 0);
    });

    test("a failing healthcheck: still running, healthy 0, status unhealthy", async () => {
        const samples = await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_container_health_status", { name: "unhealthy", status: "unhealthy" }), 1));
        assert.equal(valueOf(samples, "byte_runner_container_running", { name: "unhealthy" }), 1);
        assert.equal(valueOf(samples, "byte_runner_container_healthy", { name: "unhealthy" }), 0);
    });

    test("running without a healthcheck counts as healthy, status none", async () => {
        const samples = await exporter.scrape();
        assert.equal(valueOf(samples, "byte_runner_container_running", { name: "plain" }), 1);
        assert.equal(valueOf(samples, "byte_runner_container_healthy", { name: "plain" }), 1);
        assert.equal(valueOf(samples, "byte_runner_container_health_status", { name: "plain", status: "none" }), 1);
    });

    test("an exited container: running 0, healthy 0", async () => {
        const samples = await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_container_running", { name: "exited" }), 0));
        assert.equal(valueOf(samples, "byte_runner_container_healthy", { name: "exited" }), 0);
    });

    test("restarts by the restart policy count up in restarts_total", async () => {
        // A new container starts at 0; on-failure:2 restarts it twice, then leaves it exited.
        const samples = await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_container_restarts_total", { name: "crashing" }), 2));
        await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_container_running", { name: "crashing" }), 0), 10_000);
        assert.equal(valueOf(samples, "byte_runner_container_oom_killed", { name: "crashing" }), 0);
    });

    test("a container killed by the memory limit: oom_killed 1, running 0", async () => {
        const samples = await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_container_oom_killed", { name: "oom" }), 1));
        assert.equal(valueOf(samples, "byte_runner_container_running", { name: "oom" }), 0);
    });

    test("a healthy container that stops: running 0, healthy 0", async () => {
        await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_container_healthy", { name: "healthy" }), 1));
        mustRun("docker", ["stop", "-t", "0", `${prefix}healthy`]);
        const samples = await exporter.scrape();
        assert.equal(valueOf(samples, "byte_runner_container_running", { name: "healthy" }), 0);
        assert.equal(valueOf(samples, "byte_runner_container_healthy", { name: "healthy" }), 0);
    });

    test("no Docker engine on the socket: /metrics still answers, without container metrics, and counts the error", async () => {
        const broken = await new Exporter({ CONTAINER_PREFIX: prefix, DOCKER_SOCKET: `/tmp/mon-test-${runId}-absent.sock` }).started();
        try {
            const samples = await broken.scrape();
            assert.deepEqual(samples.filter((s) => s.name.startsWith("byte_runner_container_")), []);
            assert.equal(valueOf(samples, "byte_runner_exporter_scrape_errors_total", { source: "docker" }), 1);
            assert.match(broken.output, /docker scrape failed: .*ENOENT/);
        } finally {
            broken.stop();
        }
    });
});

const STATS_USER = "pgbouncer_stats";
/** Characters a URL must percent-encode, so the exporter has to decode them. */
const statsPassword = `st@ts:/%-${randomBytes(8).toString("hex")}`;
const appPassword = `app-${randomBytes(8).toString("hex")}`;
const pgbouncerUrl = (port: number, password = statsPassword) => `postgresql://${STATS_USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/pgbouncer`;

function missingForPgbouncer(): string | undefined {
    for (const [program, pkg] of [
        ["pgbouncer", "pgbouncer"],
        ["psql", "postgresql-client-15"],
        ["promtool", "prometheus"],
    ]) {
        if (!has(program)) return `${program} is not installed (apt-get install ${pkg})`;
    }
    if (!existsSync("/usr/lib/postgresql/15/bin/initdb")) return "PostgreSQL 15 is not installed (apt-get install postgresql-15)";
    return undefined;
}

describe("byte-runner-exporter: PgBouncer 1.18 with SCRAM, in front of PostgreSQL 15", { skip: allowedSkip(missingForPgbouncer()), concurrency: false }, () => {
    let root: string;
    let cluster: Cluster | undefined;
    const pgbouncers: ChildProcess[] = [];
    const exporters: Exporter[] = [];
    let scramPort = 0;
    let exporter: Exporter;

    /** PgBouncer as on the VPS (transaction pooling, a stats user), one server connection per pool. */
    async function startPgbouncer(authType: string): Promise<number> {
        const port = await freePort();
        const dir = join(root, `pgbouncer-${authType}`);
        mkdirSync(dir);
        const userlist = join(dir, "userlist.txt");
        writeFileSync(userlist, `"app" "${appPassword}"\n"${STATS_USER}" "${statsPassword}"\n`, { mode: 0o600 });
        const ini = join(dir, "pgbouncer.ini");
        writeFileSync(
            ini,
            [
                "[databases]",
                `appdb = host=127.0.0.1 port=${cluster!.port} dbname=postgres`,
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                `listen_port = ${port}`,
                "unix_socket_dir =",
                `auth_type = ${authType}`,
                `auth_file = ${userlist}`,
                "pool_mode = transaction",
                "default_pool_size = 1",
                "max_client_conn = 20",
                `stats_users = ${STATS_USER}`,
                "",
            ].join("\n"),
        );
        // PgBouncer refuses to run as root; as on the VPS it runs as an unprivileged user.
        const ids = process.getuid?.() === 0 ? { uid: Number(mustRun("id", ["-u", "postgres"])), gid: Number(mustRun("id", ["-g", "postgres"])) } : {};
        if (ids.uid !== undefined) for (const file of [dir, userlist, ini]) chownSync(file, ids.uid, ids.gid!);
        const child = spawn("pgbouncer", [ini], { ...ids, stdio: ["ignore", "ignore", "pipe"] });
        let log = "";
        child.stderr!.on("data", (chunk) => (log += chunk));
        pgbouncers.push(child);
        for (let attempt = 0; attempt < 100; attempt++) {
            if (child.exitCode !== null) break;
            if (spawnSync("pg_isready", ["-q", "-h", "127.0.0.1", "-p", String(port)]).status === 0) return port;
            await sleep(100);
        }
        throw new Error(`pgbouncer (${authType}) did not start:\n${log}`);
    }

    /** psql through PgBouncer as the app role; stdin stays open for statements written later. */
    function appClient(sql?: string): { child: ChildProcess; output: () => string } {
        const args = ["-X", "-q", "-At", "-h", "127.0.0.1", "-p", String(scramPort), "-U", "app", "-d", "appdb", ...(sql ? ["-c", sql] : [])];
        const child = spawn("psql", args, { env: { ...process.env, PGPASSWORD: appPassword }, stdio: ["pipe", "pipe", "pipe"] });
        let output = "";
        child.stdout!.on("data", (chunk) => (output += chunk));
        child.stderr!.on("data", (chunk) => (output += chunk));
        return { child, output: () => output };
    }

    async function startExporter(env: Record<string, string>): Promise<Exporter> {
        const started = new Exporter(env);
        exporters.push(started);
        return started.started();
    }

    before(async () => {
        const missing = missingForPgbouncer();
        if (missing) throw missingError(`the exporter's PgBouncer suite cannot run: ${missing}`);
        root = scratchDir("mon-test-pgbouncer-");
        cluster = startCluster(join(root, "cluster"));
        cluster.psql("postgres", `CREATE ROLE app LOGIN PASSWORD '${appPassword}'`);
        scramPort = await startPgbouncer("scram-sha-256");
        exporter = await startExporter({ PGBOUNCER_URL: pgbouncerUrl(scramPort) });
    });

    after(() => {
        for (const started of exporters) started.stop();
        for (const child of pgbouncers) child.kill();
        cluster?.stop();
        if (root) removeDir(root);
    });

    test("an idle pool: up 1, pool size and max_client_conn from the console, nobody waiting", async () => {
        appClient("SELECT 1").child.stdin!.end();
        const samples = await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_pgbouncer_servers_idle", { database: "appdb", user: "app" }), 1));
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_up"), 1);
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_pool_size", { database: "appdb" }), 1);
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_max_client_connections"), 20);
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_clients_waiting", { database: "appdb", user: "app" }), 0);
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_max_wait_seconds", { database: "appdb", user: "app" }), 0);
        assert.deepEqual(samples.filter((s) => s.labels.database === "pgbouncer"), [], "the admin console is not a pool");
    });

    test("a client in a transaction holds the only server connection; the next one waits, and it shows", async () => {
        const holder = appClient();
        let waiter: ReturnType<typeof appClient> | undefined;
        try {
            holder.child.stdin!.write("BEGIN;\nSELECT 'holding';\n");
            await waitUntil(() => holder.output().includes("holding"), "the first client's transaction");
            waiter = appClient("SELECT 'served'");
            const held = await exporter.waitFor((s) => assert.equal(valueOf(s, "byte_runner_pgbouncer_clients_waiting", { database: "appdb", user: "app" }), 1));
            assert.equal(waiter.output(), "", "the second client is still waiting");
            assert.equal(valueOf(held, "byte_runner_pgbouncer_servers_active", { database: "appdb", user: "app" }), 1);
            assert.ok(valueOf(held, "byte_runner_pgbouncer_clients_active", { database: "appdb", user: "app" })! >= 1);
            const waited = await exporter.waitFor((s) => assert.ok(valueOf(s, "byte_runner_pgbouncer_max_wait_seconds", { database: "appdb", user: "app" })! >= 1));
            assert.equal(valueOf(waited, "byte_runner_pgbouncer_clients_waiting", { database: "appdb", user: "app" }), 1);
        } finally {
            holder.child.stdin!.end("COMMIT;\n");
        }
        const served = waiter!;
        await waitUntil(() => served.child.exitCode !== null, "the second client's query");
        assert.equal(served.output().trim(), "served");
        const samples = await exporter.waitFor((s) => {
            assert.equal(valueOf(s, "byte_runner_pgbouncer_clients_waiting", { database: "appdb", user: "app" }), 0);
            assert.ok(valueOf(s, "byte_runner_pgbouncer_wait_seconds_total", { database: "appdb" })! >= 1, "the wait is counted");
        }, 70_000);
        assert.ok(valueOf(samples, "byte_runner_pgbouncer_queries_total", { database: "appdb" })! >= 3);
        assert.ok(valueOf(samples, "byte_runner_pgbouncer_transactions_total", { database: "appdb" })! >= 2);
    });

    test("md5 auth works too (PgBouncer with auth_type md5), read from PGBOUNCER_URL_FILE", async () => {
        const md5Port = await startPgbouncer("md5");
        const urlFile = join(root, "pgbouncer-url");
        writeFileSync(urlFile, `${pgbouncerUrl(md5Port)}\n`, { mode: 0o600 });
        const md5Exporter = await startExporter({ PGBOUNCER_URL_FILE: urlFile });
        const samples = await md5Exporter.scrape();
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_up"), 1, md5Exporter.output);
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_pool_size", { database: "appdb" }), 1);
    });

    test("a wrong password: up 0, no pool metrics, the error logged and counted, no password anywhere", async () => {
        const wrongPassword = `wr0ng-${randomBytes(8).toString("hex")}`;
        const refused = await startExporter({ PGBOUNCER_URL: pgbouncerUrl(scramPort, wrongPassword) });
        const samples = await refused.scrape();
        assert.equal(valueOf(samples, "byte_runner_pgbouncer_up"), 0);
        assert.deepEqual(samples.filter((s) => s.name.startsWith("byte_runner_pgbouncer_") && s.name !== "byte_runner_pgbouncer_up"), []);
        assert.equal(valueOf(samples, "byte_runner_exporter_scrape_errors_total", { source: "pgbouncer" }), 1);
        assert.match(refused.output, /pgbouncer scrape failed: .*authentication failed/);
        for (const secret of [wrongPassword, encodeURIComponent(wrongPassword), statsPassword, encodeURIComponent(statsPassword)]) {
            assert.ok(!refused.output.includes(secret) && !refused.served.includes(secret), "a password appears in the output");
        }
    });

    test("a server that accepts and never answers: up 0 within the scrape timeout", async () => {
        const silent: Server = createServer(() => undefined);
        await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
        try {
            const hanging = await startExporter({ PGBOUNCER_URL: pgbouncerUrl((silent.address() as { port: number }).port) });
            const begun = Date.now();
            const samples = await hanging.scrape();
            assert.ok(Date.now() - begun < 5000, `the scrape took ${Date.now() - begun} ms`);
            assert.equal(valueOf(samples, "byte_runner_pgbouncer_up"), 0);
            assert.match(hanging.output, /pgbouncer scrape failed: no complete answer/);
        } finally {
            silent.close();
        }
    });

    test("no exporter printed or served a password", () => {
        for (const started of exporters) {
            for (const secret of [statsPassword, encodeURIComponent(statsPassword), appPassword]) {
                assert.ok(!started.output.includes(secret) && !started.served.includes(secret), `a password appears in:\n${started.output}`);
            }
        }
    });
});
