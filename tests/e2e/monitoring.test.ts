// Monitoring of the local stack, end to end, with real servers and real faults: Prometheus
// scraping every target, Alertmanager delivering to a webhook this test listens on (the
// local stack's alertWebhookUrl and alertDeadmanUrl point at this machine), and faults made
// for real: Postgres stopped, the API answering 5xx under a bounded load, a disk threshold
// lowered by config, the backup schedule stopped, Alertmanager stopped. Every dashboard
// panel's query must return data from the live Prometheus. Needs `bash tools/local-stack.sh
// setup` first (tools/test.sh); the local stack's config shortens every `for:` to 20 s.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { dashboardQueries } from "../../components/monitoring/dashboards";
import { explain, needsPlugins, pulumi, REPO, run } from "./pulumi";

const STACK = ["--stack", "local", "--non-interactive"];
const PREFIX = "byte-runner-local";
const METRICS_DIR = `/var/lib/byte-runner/${PREFIX}/metrics`;
const SKIP = needsPlugins("command", "docker", "random");
const ALERT_TIMEOUT_MS = 4 * 60_000;

function up(): void {
    const r = pulumi(["up", ...STACK, "--yes", "--skip-preview"], { timeoutMs: 20 * 60_000 });
    assert.equal(r.status, 0, explain(r));
}

function configValue(key: string): string {
    const r = pulumi(["config", "get", key, "--stack", "local"]);
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}

function docker(args: string[]): string {
    const r = run("docker", args);
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}

/** A monitoring container's log (stdout and stderr), all of it or since an ISO time. */
function logsOf(service: string, since?: string): string {
    const r = run("docker", ["logs", ...(since ? ["--since", since] : []), `${PREFIX}-${service}`]);
    return r.stdout + r.stderr;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `probe` returns a value (not undefined) or the time is up; the message names what was awaited. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = ALERT_TIMEOUT_MS, everyMs = 2000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const value = await probe();
            if (value !== undefined) return value;
        } catch (error) {
            last = error;
        }
        await sleep(everyMs);
    }
    throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

/** A container's address on the monitoring network: this machine reaches Docker's bridges directly. */
function monitoringAddress(service: string): string {
    const ip = docker(["inspect", "-f", `{{ (index .NetworkSettings.Networks "${PREFIX}-monitoring").IPAddress }}`, `${PREFIX}-${service}`]);
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/, `${service} has no address on the monitoring network`);
    return ip;
}

async function prometheus(apiPath: string): Promise<{ status: string; data: unknown }> {
    const response = await fetch(`http://${monitoringAddress("prometheus")}:9090${apiPath}`, { signal: AbortSignal.timeout(10_000) });
    return (await response.json()) as { status: string; data: unknown };
}

async function query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const r = await prometheus(`/api/v1/query?query=${encodeURIComponent(expr)}`);
    assert.equal(r.status, "success", `query failed: ${expr}`);
    return (r.data as { result: { metric: Record<string, string>; value: [number, string] }[] }).result;
}

/** Whether Prometheus has the alert pending or firing. */
async function alertActive(alertname: string): Promise<boolean> {
    const r = (await prometheus("/api/v1/alerts")).data as { alerts: { labels: Record<string, string> }[] };
    return r.alerts.some((a) => a.labels.alertname === alertname);
}

/** Whether Alertmanager still holds the alert (firing, or resolved but not yet told). */
async function alertmanagerHas(alertname: string): Promise<boolean> {
    const url = `http://${monitoringAddress("alertmanager")}:9093/api/v2/alerts?filter=${encodeURIComponent(`alertname="${alertname}"`)}`;
    const alerts = (await (await fetch(url, { signal: AbortSignal.timeout(10_000) })).json()) as unknown[];
    return alerts.length > 0;
}

/**
 * Waits until the alert is over everywhere, so that the next fault is told anew: Alertmanager
 * tells a group once (and remembers it across restarts in its volume) until it is resolved.
 * `dataQuery`, when given, must return nothing or 0 too: a Prometheus that restarted has not
 * evaluated its rules yet, but its data already holds the last fault.
 */
async function settled(alertname: string, groupIntervalSeconds: number, dataQuery?: string): Promise<void> {
    await waitFor(
        `${alertname} over in Prometheus and Alertmanager`,
        async () => {
            if (dataQuery && (await query(dataQuery)).some((r) => Number(r.value[1]) > 0)) return undefined;
            return (await alertActive(alertname)) || (await alertmanagerHas(alertname)) ? undefined : true;
        },
        9 * 60_000,
        5000,
    );
    // The resolution is told at the group's next interval; after it the group starts afresh.
    await sleep((groupIntervalSeconds + 5) * 1000);
}

interface Notification {
    path: string;
    at: number;
    body: { status: string; alerts: { status: string; labels: Record<string, string> }[] };
}

/** The receiver the local stack's Alertmanager posts to: every POST kept with its path and time. */
class Receiver {
    readonly received: Notification[] = [];
    private server?: http.Server;

    async start(address: string, port: number): Promise<void> {
        this.server = http.createServer((request, response) => {
            let text = "";
            request.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
            request.on("end", () => {
                try {
                    this.received.push({ path: request.url ?? "", at: Date.now(), body: JSON.parse(text) });
                } catch {
                    // Not Alertmanager's JSON: not ours to keep.
                }
                response.writeHead(200).end("ok");
            });
        });
        await new Promise<void>((resolve, reject) => this.server!.once("error", reject).listen(port, address, resolve));
    }

    /** Stops listening and ends kept-alive connections too, so that Alertmanager's next post is refused. */
    stop(): Promise<void> {
        const server = this.server;
        if (!server) return Promise.resolve();
        return new Promise((resolve) => {
            server.close(() => resolve());
            server.closeAllConnections();
        });
    }

    /** The first notification after `since` on an alerts path that carries `alertname` with that status. */
    alert(alertname: string, status: "firing" | "resolved", since: number): Notification | undefined {
        return this.received.find(
            (n) => n.at >= since && n.path.startsWith("/alerts") && n.body.alerts.some((a) => a.labels.alertname === alertname && a.status === status),
        );
    }

    /** What arrived, for a failure message. */
    summary(): string {
        return this.received
            .map((n) => `${new Date(n.at).toISOString().slice(11, 19)} ${n.path.split("/")[1]} ${n.body.alerts.map((a) => `${a.labels.alertname}:${a.status}`).join(",")}`)
            .join("\n");
    }

    heartbeats(since: number): Notification[] {
        return this.received.filter((n) => n.at >= since && n.path.startsWith("/deadman"));
    }
}

/** A request through Caddy (the published port on this machine) to a site by its name; asynchronous, so the receiver keeps answering meanwhile. */
function request(host: string, urlPath: string): Promise<number> {
    return new Promise((resolve) => {
        execFile(
            "curl",
            ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", "--resolve", `${host}:443:127.0.0.1`, `https://${host}${urlPath}`],
            (_error, stdout) => resolve(Number(String(stdout).trim()) || 0),
        );
    });
}

describe("monitoring of the local stack, end to end", { concurrency: false }, () => {
    const receiver = new Receiver();
    let webhookUrl: URL;
    let deadmanUrl: URL;
    let apiHost = "";
    let frontendHost = "";
    let groupInterval = 0;

    before(async () => {
        if (SKIP) return;
        assert.ok(fs.existsSync(path.join(REPO, "Pulumi.local.yaml")), "run `bash tools/local-stack.sh setup` first");
        up();
        webhookUrl = new URL(configValue("alertWebhookUrl"));
        deadmanUrl = new URL(configValue("alertDeadmanUrl"));
        groupInterval = Number(configValue("alertGroupIntervalSeconds"));
        assert.equal(webhookUrl.host, deadmanUrl.host, "the local stack's receivers share one listener");
        await receiver.start(webhookUrl.hostname, Number(webhookUrl.port));
        // Alertmanager keeps a log of what it told (in its volume, across restarts) and tells a
        // group again only after repeat_interval (hours): earlier runs must not hide a fault
        // from this one. A fresh VPS starts so too.
        // Alertmanager writes the log out when it stops: remove it while it is stopped.
        const image = docker(["inspect", "-f", "{{.Config.Image}}", `${PREFIX}-alertmanager`]);
        docker(["stop", `${PREFIX}-alertmanager`]);
        try {
            docker(["run", "--rm", "--entrypoint", "rm", "-v", `${PREFIX}-alertmanager:/alertmanager`, image, "-f", "/alertmanager/nflog"]);
        } finally {
            docker(["start", `${PREFIX}-alertmanager`]);
        }
        await waitFor("Alertmanager healthy again", () => (docker(["inspect", "-f", "{{.State.Health.Status}}", `${PREFIX}-alertmanager`]) === "healthy" ? true : undefined), 120_000);
        const outputs = JSON.parse(pulumi(["stack", "output", "--json", "--stack", "local"]).stdout) as Record<string, string>;
        apiHost = new URL(outputs.apiUrl).host;
        frontendHost = new URL(outputs.frontendUrl).host;
    });

    after(async () => {
        await receiver.stop();
    });

    it("1. after pulumi up every scrape target is up, Caddy's requests carry sites, and the probes reach both sites", { skip: SKIP }, async () => {
        // Some traffic for the per-site series (and for the dashboards' queries below).
        for (let i = 0; i < 20; i++) {
            await request(apiHost, "/health");
            await request(frontendHost, "/");
        }
        const targets = await waitFor("every scrape target up", async () => {
            const r = (await prometheus("/api/v1/targets")).data as { activeTargets: { labels: { job: string; instance: string }; health: string; lastError: string }[] };
            const down = r.activeTargets.filter((t) => t.health !== "up");
            return r.activeTargets.length > 0 && down.length === 0 ? r.activeTargets : undefined;
        });
        const jobs = new Set(targets.map((t) => t.labels.job));
        for (const job of ["prometheus", "alertmanager", "node", "postgres", "byte-runner", "blackbox", "caddy", "blackbox-http"]) assert.ok(jobs.has(job), `no target of job ${job}`);
        await waitFor("Caddy's API requests labelled site=api", async () => ((await query('caddy_http_requests_total{site="api"}')).length > 0 ? true : undefined));
        const expected = JSON.stringify([`https://${apiHost}/health`, `https://${frontendHost}/`].sort());
        await waitFor(`both probes succeeding (${expected})`, async () => {
            const probes = await query("probe_success == 1");
            return JSON.stringify(probes.map((p) => p.metric.instance).sort()) === expected ? true : undefined;
        });
        const certificateDays = await query("(probe_ssl_earliest_cert_expiry - time()) / 86400");
        assert.ok(certificateDays.length === 2 && certificateDays.every((c) => Number(c.value[1]) > 0), JSON.stringify(certificateDays));
    });

    it("2. every dashboard panel's query returns data from the live Prometheus", { skip: SKIP }, async () => {
        // The backup dashboard reads the drill's metrics: a drill has run when the backup suite ran first; else run one.
        if (!fs.existsSync(path.join(METRICS_DIR, "restore_drill.prom"))) {
            const r = run(`/usr/local/sbin/${PREFIX}-backup`, ["drill"], { timeoutMs: 15 * 60_000 });
            assert.equal(r.status, 0, explain(r));
        }
        const empty: string[] = [];
        for (const q of dashboardQueries()) {
            const result = await waitFor(`data for ${q.dashboard} / ${q.panel}`, async () => {
                const r = await prometheus(`/api/v1/query?query=${encodeURIComponent(q.expr)}`);
                if (r.status !== "success") throw new Error(`${q.dashboard} / ${q.panel}: ${JSON.stringify(r)}`);
                const data = r.data as { resultType: string; result: unknown };
                const has = data.resultType === "scalar" || (Array.isArray(data.result) && data.result.length > 0);
                return has ? data : undefined;
            }, 60_000, 5000).catch(() => undefined);
            if (result === undefined) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
        }
        assert.deepEqual(empty, [], `panels without data:\n${empty.join("\n")}`);
    });

    it("3. the API answering 5xx under a bounded load: ApiErrorRateHigh fires", { skip: SKIP }, async () => {
        // A notification is sent when the alert starts firing: it must not be firing already
        // (errors of an earlier fault stay in the 5 min window for 5 min).
        await settled("ApiErrorRateHigh", groupInterval, 'sum(increase(caddy_http_request_duration_seconds_count{site="api",code=~"5.."}[5m]))');
        const since = Date.now();
        // 300 requests over about a minute, all 500s from the backend stand-in, through Caddy.
        for (let i = 0; i < 300; i++) {
            assert.equal(await request(apiHost, "/status/500"), 500);
            await sleep(150);
        }
        const firing = await waitFor(`ApiErrorRateHigh firing at the webhook after ${new Date(since).toISOString()}`, () => receiver.alert("ApiErrorRateHigh", "firing", since)).catch((error: Error) => {
            throw new Error(`${error.message}\nreceived:\n${receiver.summary()}`);
        });
        assert.equal(firing.body.alerts.find((a) => a.labels.alertname === "ApiErrorRateHigh")?.labels.severity, "critical");
    });

    it("4. Postgres stopped: PostgresDown reaches the webhook, and its resolution when Postgres is back", { skip: SKIP }, async () => {
        await settled("PostgresDown", groupInterval);
        const since = Date.now();
        docker(["stop", `${PREFIX}-postgres`]);
        try {
            const firing = await waitFor("PostgresDown firing at the webhook", () => receiver.alert("PostgresDown", "firing", since));
            console.log(`PostgresDown reached the webhook ${Math.round((firing.at - since) / 1000)} s after Postgres stopped`);
        } finally {
            docker(["start", `${PREFIX}-postgres`]);
        }
        const restarted = Date.now();
        const resolved = await waitFor("PostgresDown resolved at the webhook", () => receiver.alert("PostgresDown", "resolved", restarted));
        console.log(`its resolution ${Math.round((resolved.at - restarted) / 1000)} s after Postgres started again`);
        // The rest of the stack comes back by itself (PgBouncer reconnects; the backend's health reads Postgres again).
        await waitFor("the API healthy again", async () => ((await request(apiHost, "/health")) === 200 ? true : undefined));
    });

    it("5. a disk above the (lowered) threshold: HostDiskSpaceLow fires", { skip: SKIP }, async () => {
        const current = pulumi(["config", "get", "alertDiskUsedPercent", "--stack", "local"]);
        const kept = current.status === 0 ? current.stdout.trim() : undefined;
        await settled("HostDiskSpaceLow", groupInterval);
        const r = pulumi(["config", "set", "alertDiskUsedPercent", "10", "--stack", "local"]);
        assert.equal(r.status, 0, explain(r));
        const since = Date.now();
        try {
            up();
            await waitFor("HostDiskSpaceLow firing at the webhook", () => receiver.alert("HostDiskSpaceLow", "firing", since));
        } finally {
            const back = pulumi(kept === undefined ? ["config", "rm", "alertDiskUsedPercent", "--stack", "local"] : ["config", "set", "alertDiskUsedPercent", kept, "--stack", "local"]);
            assert.equal(back.status, 0, explain(back));
            up();
        }
        // Its resolution is not awaited here: the new threshold replaces Prometheus, whose alerts
        // then end by timing out in Alertmanager (minutes); step 4 proves resolutions arrive.
    });

    it("6. the backup schedule stopped and its last backup a week old: BackupTooOld fires", { skip: SKIP }, async () => {
        const file = path.join(METRICS_DIR, "backup.prom");
        const kept = fs.readFileSync(file, "utf8");
        const weekAgo = Math.floor(Date.now() / 1000) - 7 * 86400;
        await settled("BackupTooOld", groupInterval);
        const since = Date.now();
        docker(["stop", `${PREFIX}-backup`]);
        try {
            // The scheduler is stopped, so nothing rewrites the file: its newest backups now look a week old.
            fs.writeFileSync(file, kept.replace(/^(byte_runner_backup_newest_stop_timestamp_seconds\{[^}]*\}) \d+$/gm, `$1 ${weekAgo}`));
            assert.notEqual(fs.readFileSync(file, "utf8"), kept, "no newest-backup timestamp in backup.prom");
            await waitFor("BackupTooOld firing at the webhook", () => receiver.alert("BackupTooOld", "firing", since));
            await waitFor("ContainerStopped (backup) firing at the webhook", () => receiver.alert("ContainerStopped", "firing", since));
        } finally {
            fs.writeFileSync(file, kept);
            docker(["start", `${PREFIX}-backup`]);
        }
    });

    it("7. the Watchdog's heartbeats reach the dead-man URL, and stop when Alertmanager stops", { skip: SKIP }, async () => {
        const since = Date.now();
        await waitFor("two heartbeats", () => (receiver.heartbeats(since).length >= 2 ? true : undefined), 90_000);
        docker(["stop", `${PREFIX}-alertmanager`]);
        try {
            const stopped = Date.now();
            await sleep(35_000);
            assert.deepEqual(receiver.heartbeats(stopped).length, 0, "heartbeats went on without Alertmanager");
        } finally {
            docker(["start", `${PREFIX}-alertmanager`]);
        }
        const started = Date.now();
        await waitFor("heartbeats again", () => (receiver.heartbeats(started).length >= 1 ? true : undefined), 90_000);
    });

    it("8. the receivers' URLs (their tokens) are not in plain text in the state, the containers, the processes or the monitoring's logs, a failed delivery's included", { skip: SKIP }, async () => {
        const secrets = [webhookUrl.pathname, deadmanUrl.pathname];
        for (const secret of secrets) assert.match(secret, /\/[0-9a-f]{32}$/, "the local stack's receiver URLs carry a token");
        // A delivery that fails is logged with its error, and an HTTP client's error names the
        // URL (Alertmanager 0.25 wrote it whole): make the dead-man's next posts fail.
        const since = new Date().toISOString();
        await receiver.stop();
        try {
            await waitFor("a failed delivery in Alertmanager's log", () => (/Notify.*failed/i.test(logsOf("alertmanager", since)) ? true : undefined), 90_000);
        } finally {
            await receiver.start(webhookUrl.hostname, Number(webhookUrl.port));
        }
        const state = pulumi(["stack", "export", "--stack", "local"]);
        assert.equal(state.status, 0, explain(state));
        const inspect = docker(["inspect", ...docker(["ps", "-aq", "--filter", `name=${PREFIX}-`]).split("\n")]);
        const processes = run("ps", ["-eo", "args"]).stdout;
        const logs = ["alertmanager", "prometheus", "byte-runner-exporter", "postgres-exporter"].map((service) => logsOf(service));
        for (const [where, text] of [["the state", state.stdout], ["docker inspect", inspect], ["ps", processes], ["the logs", logs.join("\n")]] as const) {
            for (const secret of secrets) assert.ok(!text.includes(secret.split("/").pop()!), `a receiver's token is in ${where}`);
        }
    });
});
