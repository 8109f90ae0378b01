// The generated Caddyfile against a real Caddy of the version the production image pins
// (proxyImage): `caddy adapt` parses every directive in each TLS mode, `caddy validate`
// provisions the internal-CA config, and a Caddy run on free loopback ports serves a site,
// writes its JSON access log on stdout (tokens removed) and per-host request metrics on
// the plain-HTTP metrics site.
// Which Caddy: tests/built-tool.ts (BYTE_RUNNER_CADDY, else the one tools/local-vps/go-build.sh
// built); its version must be the image's major.minor (Debian's caddy 2.6 lacks the `metrics`
// global option).
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { KEYS } from "../../config";
import { allowedSkip, missingError } from "../../tests/skip";
import { CADDY_METRICS_PORT, caddyfile, CaddyfileArgs } from "./caddyfile";
import { CADDY_UPSTREAMS_DIR } from "./upstreams";
import { freePort } from "../../tests/free-port";
import { builtTool } from "../../tests/built-tool";
import { startLoad } from "../../tests/http-load";

const caddy = builtTool({
    program: "caddy",
    binary: "caddy",
    envVar: "BYTE_RUNNER_CADDY",
    image: String(KEYS.proxyImage.default),
    imageVersion: /^caddy:(\d+\.\d+)\./,
    versionArgs: ["version"],
    versionPrefix: (majorMinor) => `v${majorMinor}.`,
});

const routes = [
    { host: "staging.byte-runner.app", upstreamFile: `${CADDY_UPSTREAMS_DIR}/frontend.caddy` },
    { host: "api.staging.byte-runner.app", upstreamFile: `${CADDY_UPSTREAMS_DIR}/backend.caddy` },
];
/** What a release writes into each upstream file (components/app/release.sh). */
const upstreamLines: Record<string, string> = { "frontend.caddy": "reverse_proxy frontend:3000\n", "backend.caddy": "reverse_proxy backend:4000\n" };
const redirects = [{ from: "www.staging.byte-runner.app", to: "staging.byte-runner.app" }];
const sample = caddyfile({ routes, redirects, tlsMode: "internal", hstsMaxAgeSeconds: 31536000 });

interface Adapted {
    logging: { logs: Record<string, { writer?: { output: string }; encoder?: { format: string; wrap?: { format: string }; fields?: Record<string, unknown> }; include?: string[] }> };
    apps: {
        http: {
            metrics?: { per_host?: boolean };
            servers: Record<string, { listen: string[]; routes: { match?: { host?: string[]; path?: string[] }[]; handle: unknown[] }[]; logs?: { logger_names: Record<string, string[]> } }>;
        };
        tls?: unknown;
    };
}

/** Writes the sample's Caddyfile into `dir`, with its upstream files there instead of CADDY_UPSTREAMS_DIR; returns its path. */
function writeWithUpstreams(dir: string, text: string): string {
    const file = path.join(dir, "Caddyfile");
    fs.mkdirSync(path.join(dir, "upstreams"));
    for (const [name, line] of Object.entries(upstreamLines)) fs.writeFileSync(path.join(dir, "upstreams", name), line);
    fs.writeFileSync(file, text.replaceAll(`${CADDY_UPSTREAMS_DIR}/`, `${dir}/upstreams/`));
    return file;
}

function withTempDir<T>(prefix: string, body: (dir: string) => T): T {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    try {
        return body(dir);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** `caddy adapt` (parses every directive, provisions nothing) of the Caddyfile as JSON. */
function adapt(text: string): Adapted {
    return withTempDir("caddyfile-", (dir) => {
        const file = writeWithUpstreams(dir, text);
        const result = spawnSync("caddy", ["adapt", "--config", file, "--adapter", "caddyfile"], { encoding: "utf8", env: caddy.env });
        assert.equal(result.status, 0, result.stderr);
        // A Caddyfile that parses but is not laid out as `caddy fmt` would is reported, not refused.
        assert.doesNotMatch(result.stderr, /not formatted/, "the generated Caddyfile is not as caddy fmt lays it out");
        return JSON.parse(result.stdout) as Adapted;
    });
}

/** Hosts of the site routes of the HTTPS server. */
function siteHosts(json: Adapted): string[] {
    const server = Object.values(json.apps.http.servers).find((s) => s.listen.includes(":443"));
    assert.ok(server, `no server on :443 among ${JSON.stringify(Object.values(json.apps.http.servers).map((s) => s.listen))}`);
    return server.routes.flatMap((r) => r.match?.[0]?.host ?? []).sort();
}

describe("Caddyfile", { skip: allowedSkip(caddy.missing) }, () => {
    before(() => {
        if (caddy.missing) throw missingError(caddy.missing);
    });

    it("is parsed by a real Caddy in each TLS mode, with one site per host", () => {
        const hosts = [...routes.map((r) => r.host), ...redirects.map((r) => r.from)].sort();
        for (const tlsMode of ["internal", "origin-ca", "acme"] as const) {
            const json = adapt(caddyfile({ routes, redirects, tlsMode, hstsMaxAgeSeconds: 31536000, acmeEmail: "ops@byte-runner.app" }));
            assert.deepEqual(siteHosts(json), hosts, tlsMode);
        }
        assert.ok(JSON.stringify(adapt(sample).apps.tls).includes('"internal"'), "tls internal not applied");
    });

    it("logs every site's requests as JSON on stdout, with tokens filtered out", () => {
        const json = adapt(sample);
        const loggers = Object.values(json.apps.http.servers).flatMap((s) => Object.entries(s.logs?.logger_names ?? {}));
        assert.deepEqual(loggers.map(([host]) => host).sort(), [...routes.map((r) => r.host), ...redirects.map((r) => r.from)].sort());
        for (const [host, names] of loggers) {
            for (const name of names) {
                const log = json.logging.logs[name];
                assert.equal(log?.writer?.output, "stdout", host);
                assert.equal(log?.encoder?.wrap?.format, "json", host);
                assert.ok(log?.encoder?.fields?.["resp_headers>St-Access-Token"], `${host}: SuperTokens' access token is not filtered`);
            }
        }
    });

    it(`serves per-host metrics on plain HTTP port ${CADDY_METRICS_PORT}, /metrics only, without an access log`, () => {
        const json = adapt(sample);
        assert.equal(json.apps.http.metrics?.per_host, true);
        const metricsServers = Object.values(json.apps.http.servers).filter((s) => s.listen.includes(`:${CADDY_METRICS_PORT}`));
        assert.equal(metricsServers.length, 1);
        const [server] = metricsServers;
        assert.equal(server!.logs, undefined, "the metrics site has an access log (a line per scrape)");
        assert.deepEqual(server!.routes.map((r) => r.match?.[0]?.path ?? ["(any)"]), [["/metrics"], ["(any)"]]);
        // No certificate is wanted for it: its address names no host.
        assert.doesNotMatch(JSON.stringify(json.apps.tls ?? {}), new RegExp(`:${CADDY_METRICS_PORT}`));
    });

    it("is valid for a real Caddy (validate provisions every module; internal CA state in a temporary directory)", () => {
        withTempDir("caddy-validate-", (dir) => {
            const file = writeWithUpstreams(dir, sample);
            const env = { ...caddy.env, XDG_DATA_HOME: path.join(dir, "data"), XDG_CONFIG_HOME: path.join(dir, "config") };
            const result = spawnSync("caddy", ["validate", "--config", file, "--adapter", "caddyfile"], { encoding: "utf8", env });
            assert.equal(result.status, 0, result.stderr);
            assert.match(result.stdout + result.stderr, /Valid configuration/);
        });
    });

    it("sends HSTS only when asked", () => {
        assert.match(sample, /Strict-Transport-Security "max-age=31536000; includeSubDomains"/);
        assert.doesNotMatch(caddyfile({ routes: [], tlsMode: "internal", hstsMaxAgeSeconds: 0 }), /Strict-Transport-Security/);
    });

    describe("a real Caddy on loopback", () => {
        const API = "api.byte-runner.test";
        const FRONTEND = "byte-runner.test";
        let dir: string;
        let upstream: http.Server;
        let server: ChildProcess | undefined;
        let stdout = "";
        let stderr = "";
        const ports = { http: 0, https: 0, metrics: 0, admin: 0 };

        /**
         * GET over HTTPS from the site, checked against Caddy's internal CA. The Host header
         * is the bare name, as browsers send it for port 443: the metrics' host label is it.
         */
        function get(host: string, urlPath: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
            const ca = fs.readFileSync(path.join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt"));
            return new Promise((resolve, reject) => {
                const request = https.get({ host: "127.0.0.1", port: ports.https, servername: host, path: urlPath, headers: { Host: host, ...headers }, ca }, (response) => {
                    let body = "";
                    response.on("data", (chunk) => (body += chunk));
                    response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body }));
                });
                request.on("error", reject);
            });
        }

        function getMetricsSite(urlPath: string): Promise<{ status: number; body: string }> {
            return new Promise((resolve, reject) => {
                http.get({ host: "127.0.0.1", port: ports.metrics, path: urlPath }, (response) => {
                    let body = "";
                    response.on("data", (chunk) => (body += chunk));
                    response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
                }).on("error", reject);
            });
        }

        before(async () => {
            if (caddy.missing) throw missingError(caddy.missing);
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "caddy-run-"));
            // The backend: 200 with a SuperTokens session token in a header, or 503.
            upstream = http.createServer((request, response) => {
                if (request.url?.startsWith("/fail")) response.writeHead(503).end("down");
                else response.writeHead(200, { "St-Access-Token": "secret-access-token-value", "Content-Type": "text/plain" }).end("ok");
            });
            await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
            const upstreamAddress = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
            for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
            fs.writeFileSync(path.join(dir, "upstream.caddy"), `reverse_proxy ${upstreamAddress}\n`);
            const args: CaddyfileArgs = {
                routes: [
                    { host: API, upstreamFile: path.join(dir, "upstream.caddy") },
                    { host: FRONTEND, upstreamFile: path.join(dir, "upstream.caddy") },
                ],
                redirects: [{ from: `www.${FRONTEND}`, to: FRONTEND }],
                tlsMode: "internal",
                hstsMaxAgeSeconds: 60,
                ports,
            };
            const file = path.join(dir, "Caddyfile");
            fs.writeFileSync(file, caddyfile(args));
            server = spawn("caddy", ["run", "--config", file, "--adapter", "caddyfile"], {
                env: { ...caddy.env, XDG_DATA_HOME: path.join(dir, "data"), XDG_CONFIG_HOME: path.join(dir, "config") },
            });
            server.stdout!.on("data", (chunk) => (stdout += chunk));
            server.stderr!.on("data", (chunk) => (stderr += chunk));
            // Up once the site answers over TLS with a certificate from its internal CA.
            for (let attempt = 0; ; attempt++) {
                try {
                    if ((await get(API, "/ready")).status === 200) break;
                } catch (error) {
                    if (attempt >= 100 || server.exitCode !== null) throw new Error(`Caddy did not serve ${API}: ${String(error)}\n${stderr}`, { cause: error });
                }
                await new Promise((resolve) => setTimeout(resolve, 100));
            }
        });

        after(async () => {
            server?.kill();
            if (server && server.exitCode === null) await new Promise((resolve) => server!.once("exit", resolve));
            upstream?.close();
            if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        it("writes one JSON access log line per request on stdout, without tokens", async () => {
            const response = await get(API, "/login?token=one-time-secret&next=home", { Referer: `https://${FRONTEND}/reset-password?token=reset-secret` });
            assert.equal(response.status, 200);
            assert.equal(response.headers["st-access-token"], "secret-access-token-value", "the client still gets its token");
            let line: { logger: string; status: number; request: { host: string; uri: string; headers: Record<string, string[]> } } | undefined;
            for (let i = 0; i < 50 && !line; i++) {
                line = stdout
                    .split("\n")
                    .filter((l) => l.includes("/login?"))
                    .map((l) => JSON.parse(l))[0];
                if (!line) await new Promise((resolve) => setTimeout(resolve, 100));
            }
            assert.ok(line, `no access log line for /login on stdout:\n${stdout}`);
            assert.match(line.logger, /^http\.log\.access/);
            assert.equal(line.status, 200);
            assert.equal(line.request.host, API);
            assert.equal(line.request.uri, "/login?next=home&token=REDACTED");
            assert.deepEqual(line.request.headers.Referer, [`https://${FRONTEND}/reset-password?token=REDACTED`]);
            for (const secret of ["secret-access-token-value", "one-time-secret", "reset-secret"]) {
                assert.ok(!stdout.includes(secret) && !stderr.includes(secret), `${secret} is in Caddy's log`);
            }
            assert.ok(!stderr.includes('"http.log.access'), "access log lines on stderr");
        });

        it("counts requests per host and status on the metrics site, and serves nothing else there", async () => {
            assert.equal((await get(API, "/fail")).status, 503);
            assert.equal((await get(FRONTEND, "/")).status, 200);
            assert.equal((await get(`www.${FRONTEND}`, "/page")).status, 301);
            const metrics = await getMetricsSite("/metrics");
            assert.equal(metrics.status, 200);
            const series = metrics.body.split("\n").filter((l) => !l.startsWith("#"));
            const has = (name: string, labels: Record<string, string>) =>
                series.some((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
            for (const host of [API, FRONTEND, `www.${FRONTEND}`]) {
                assert.ok(has("caddy_http_requests_total", { host }), `no caddy_http_requests_total for ${host}:\n${series.join("\n")}`);
            }
            assert.ok(has("caddy_http_request_duration_seconds_count", { code: "503", host: API }), `no 503 of ${API}:\n${series.join("\n")}`);
            assert.ok(has("caddy_http_request_duration_seconds_bucket", { code: "200", host: FRONTEND }));
            assert.equal((await getMetricsSite("/")).status, 404);
            assert.equal((await getMetricsSite("/config/")).status, 404);
        });

        it("switches a site to a new upstream with its file rewritten and caddy reload: no error answer, the new upstream serves; the admin API counts the upstream's requests", async () => {
            // What a release does (components/app/release.sh): the new app beside the old one,
            // the upstream file rewritten, a graceful reload, then the drain reads the admin API.
            const next = http.createServer((_request, response) => response.writeHead(200, { "Content-Type": "text/plain" }).end("new release"));
            await new Promise<void>((resolve) => next.listen(0, "127.0.0.1", resolve));
            const nextAddress = `127.0.0.1:${(next.address() as AddressInfo).port}`;
            const ca = fs.readFileSync(path.join(dir, "data", "caddy", "pki", "authorities", "local", "root.crt"));
            const load = startLoad({ address: { host: "127.0.0.1", port: ports.https }, hostname: API, path: "/release", ca, concurrency: 4, maxSeconds: 20 });
            let result;
            const reloadWindow = { from: 0, to: 0 };
            const began = Date.now();
            try {
                await new Promise((resolve) => setTimeout(resolve, 300));
                reloadWindow.from = Date.now() - began;
                fs.writeFileSync(path.join(dir, "upstream.caddy"), `reverse_proxy ${nextAddress}\n`);
                const reload = spawn("caddy", ["reload", "--config", path.join(dir, "Caddyfile"), "--adapter", "caddyfile", "--address", `127.0.0.1:${ports.admin}`], { env: caddy.env });
                let reloadOutput = "";
                reload.stderr!.on("data", (chunk) => (reloadOutput += chunk));
                const status = await new Promise<number | null>((resolve) => reload.once("exit", resolve));
                assert.equal(status, 0, reloadOutput);
                reloadWindow.to = Date.now() - began;
                await new Promise((resolve) => setTimeout(resolve, 500));
                assert.equal((await get(API, "/release")).body, "new release", "the new upstream does not serve after the reload");
            } finally {
                result = await load.stop();
                next.closeAllConnections();
                next.close();
            }
            // Never an error answer: Caddy proxies to the old upstream, then to the new one. What a
            // reload does cost (measured here: 0-2 of ~800 requests at 4 clients) is a connection
            // reset while the listener passes to the new config, never before or after it; the
            // deploy test and bench:deploy count these against the 0-failed target.
            const answered = result.failed.filter((f) => / HTTP \d+$/.test(f));
            assert.deepEqual(answered, [], "error answers during the switch");
            const outside = result.failed.filter((f) => Number(f.split(" ")[0]) < reloadWindow.from - 50 || Number(f.split(" ")[0]) > reloadWindow.to + 50);
            assert.deepEqual(outside, [], `connection errors outside the reload (${reloadWindow.from}-${reloadWindow.to} ms)`);
            assert.ok(result.answers.length > 20, `only ${result.answers.length} requests`);
            const upstreams = await new Promise<string>((resolve, reject) => {
                http.get({ host: "127.0.0.1", port: ports.admin, path: "/reverse_proxy/upstreams" }, (response) => {
                    let body = "";
                    response.on("data", (chunk) => (body += chunk));
                    response.on("end", () => resolve(body));
                }).on("error", reject);
            });
            // The shape release.sh's drain reads: the address, then its requests in flight.
            assert.match(upstreams.replace(/\s/g, ""), new RegExp(`"address":"${nextAddress.replace(/\./g, "\\.")}","num_requests":0`));
        });
    });
});
