// The local stack end to end: `pulumi up` over SSH against this machine as the VPS
// (bootstrap, Docker over ssh://, every container), HTTPS through Caddy to the apps and
// the database, idempotency, a targeted change, no secret in the state, and a destroy
// that keeps the data. Needs `bash scripts/local-stack.sh setup` first (scripts/test.sh).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { explain, needsPlugins, pulumi, REPO, run } from "./pulumi";

const STACK = ["--stack", "local", "--non-interactive"];
const PREFIX = "byte-runner-local";
const FRONTEND = "local.byte-runner.test";
const API = "api-local.byte-runner.test";
// The local stack (internal TLS, no DNS) uses no tls or cloudflare resource.
const SKIP = needsPlugins("command", "docker", "random");

function up(extra: string[] = []): void {
    const r = pulumi(["up", ...STACK, "--yes", "--skip-preview", ...extra]);
    assert.equal(r.status, 0, explain(r));
}

function docker(args: string[]): string {
    const r = run("docker", args);
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}

function psql(sql: string): string {
    return docker(["exec", "-i", `${PREFIX}-postgres`, "psql", "-U", "postgres", "-d", "app", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]);
}

let caFile = "";
function https(host: string, urlPath: string): { status: number; headers: string; body: string } {
    const r = run("curl", ["-sS", "-D", "-", "--max-time", "20", "--cacert", caFile, "--resolve", `${host}:443:127.0.0.1`, `https://${host}${urlPath}`]);
    assert.equal(r.status, 0, explain(r));
    const [headers, ...rest] = r.stdout.split(/\r?\n\r?\n/);
    return { status: Number(/^HTTP\/\S+ (\d+)/.exec(headers)?.[1]), headers, body: rest.join("\n\n") };
}

/** Names of the resources a preview would touch (anything but "same"). */
function plannedChanges(): string[] {
    const r = pulumi(["preview", ...STACK, "--json"]);
    assert.equal(r.status, 0, explain(r));
    const plan = JSON.parse(r.stdout) as { steps?: { op: string; urn: string }[] };
    // URN: urn:pulumi:<stack>::<project>::<parent types $ ...>$<type>::<name>
    const typeAndName = (urn: string) => `${urn.split("::")[2].split("$").pop()}::${urn.split("::").pop()}`;
    return [...new Set((plan.steps ?? []).filter((s) => s.op !== "same").map((s) => typeAndName(s.urn)))].sort();
}

describe("the local stack, end to end", { concurrency: false }, () => {
    before(() => {
        if (SKIP) return;
        assert.ok(fs.existsSync(path.join(REPO, "Pulumi.local.yaml")), "run `bash scripts/local-stack.sh setup` first");
    });

    it("1. pulumi up creates everything over SSH, bootstrap and Docker over ssh:// included", { skip: SKIP }, () => {
        up();
        const names = docker(["ps", "--filter", "label=org.byte-runner.managed-by", "--format", "{{.Names}} {{.Status}}"]).split("\n");
        for (const service of ["postgres", "pgbouncer", "supertokens", "backend", "frontend", "caddy"]) {
            const line = names.find((n) => n.startsWith(`${PREFIX}-${service} `));
            assert.ok(line && line.includes("(healthy)"), `${service} is not running healthy: ${names.join("; ")}`);
        }
    });

    it("2. HTTPS through Caddy reaches the frontend, and the api reaches the backend, which reads Postgres through PgBouncer", { skip: SKIP }, () => {
        caFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "byte-runner-e2e-")), "root.crt");
        fs.writeFileSync(caFile, docker(["exec", `${PREFIX}-caddy`, "cat", "/data/caddy/pki/authorities/local/root.crt"]) + "\n");
        const page = https(FRONTEND, "/");
        assert.equal(page.status, 200, page.headers);
        assert.match(page.body, /<html/i);
        assert.match(page.headers, /strict-transport-security: max-age=31536000/i);
        const health = https(API, "/health");
        assert.equal(health.status, 200, health.body);
        const json = JSON.parse(health.body) as Record<string, unknown>;
        assert.ok(JSON.stringify(json).length > 10, health.body);
        // The backend's session is PgBouncer's: its pool for `app` is in use or idle.
        const pools = docker(["exec", `${PREFIX}-postgres`, "psql", "-U", "postgres", "-tA", "-c", "select count(*) from pg_stat_activity where datname = 'app' and usename = 'app'"]);
        assert.ok(Number(pools) >= 1, `no server connection of the app role (through PgBouncer): ${pools}`);
    });

    it("3. a second pulumi up changes nothing, and a preview with --diff is empty", { skip: SKIP }, () => {
        up(["--expect-no-changes"]);
        const r = pulumi(["preview", ...STACK, "--diff", "--expect-no-changes"]);
        assert.equal(r.status, 0, explain(r));
    });

    it("4. changing the pool size changes only the pooler and the backend", { skip: SKIP }, () => {
        let r = pulumi(["config", "set", ...STACK.slice(0, 2), "poolerDefaultPoolSize", "12"]);
        assert.equal(r.status, 0, explain(r));
        try {
            assert.deepEqual(plannedChanges(), ["docker:index/container:Container::backend", "docker:index/container:Container::pooler"]);
            up();
            const ini = docker(["exec", `${PREFIX}-pgbouncer`, "cat", "/etc/pgbouncer/pgbouncer.ini"]);
            assert.match(ini, /^default_pool_size = 12$/m);
        } finally {
            r = pulumi(["config", "set", ...STACK.slice(0, 2), "poolerDefaultPoolSize", "10"]);
            assert.equal(r.status, 0, explain(r));
            up();
        }
    });

    it("5. the exported state holds no secret in plain text", { skip: SKIP }, () => {
        const outputs = pulumi(["stack", "output", ...STACK, "--show-secrets", "--json"]);
        assert.equal(outputs.status, 0, explain(outputs));
        const o = JSON.parse(outputs.stdout) as Record<string, string>;
        const passwordOf = (url: string) => new URL(url).password;
        const env = (container: string) =>
            Object.fromEntries(
                (JSON.parse(docker(["inspect", "--format", "{{json .Config.Env}}", container])) as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]),
            );
        const secrets: Record<string, string> = {
            "app password": passwordOf(o.databaseUrl),
            "pgbouncer stats password": passwordOf(o.poolerStatsUrl),
            "supertokens API key": o.supertokensApiKey,
            "postgres superuser password": env(`${PREFIX}-postgres`).POSTGRES_PASSWORD,
            "supertokens role password": passwordOf(env(`${PREFIX}-supertokens`).POSTGRESQL_CONNECTION_URI),
        };
        const key = fs.readFileSync(path.join(REPO, ".local/vps/ssh/client_ed25519"), "utf8").split("\n")[1];
        secrets["ssh private key"] = key;
        const exported = pulumi(["stack", "export", ...STACK.slice(0, 2)]);
        assert.equal(exported.status, 0, explain(exported));
        for (const [what, value] of Object.entries(secrets)) {
            assert.ok(value && value.length >= 16, `${what} not found`);
            assert.ok(!exported.stdout.includes(value), `${what} is in the exported state in plain text`);
        }
    });

    it("6. pulumi destroy removes containers and networks and keeps the data; a new up finds it", { skip: SKIP }, () => {
        const marker = `e2e-${Date.now()}`;
        psql(`create table if not exists e2e_marker(v text); insert into e2e_marker values ('${marker}')`);
        const r = pulumi(["destroy", ...STACK, "--yes", "--skip-preview"]);
        assert.equal(r.status, 0, explain(r));
        assert.equal(docker(["ps", "-a", "--filter", "label=org.byte-runner.managed-by", "--format", "{{.Names}}"]), "");
        assert.equal(docker(["network", "ls", "--filter", `name=${PREFIX}-`, "--format", "{{.Name}}"]), "");
        assert.equal(docker(["volume", "ls", "--filter", `name=${PREFIX}-pgdata`, "--format", "{{.Name}}"]), `${PREFIX}-pgdata`);
        up();
        assert.equal(psql(`select v from e2e_marker where v = '${marker}'`), marker);
        // New generated passwords work against the kept volume, over the network as the apps connect.
        const superuser = JSON.parse(docker(["inspect", "--format", "{{json .Config.Env}}", `${PREFIX}-postgres`])) as string[];
        const password = superuser.find((e) => e.startsWith("POSTGRES_PASSWORD="))?.slice("POSTGRES_PASSWORD=".length) ?? "";
        const tcp = run("docker", ["exec", "-e", `PGPASSWORD=${password}`, `${PREFIX}-postgres`, "psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", "select 1"]);
        assert.equal(tcp.stdout.trim(), "1", explain(tcp));
        const health = https(API, "/health");
        assert.equal(health.status, 200, `the backend cannot reach its database after the new up: ${health.body}`);
    });

    after(() => {
        if (caFile) fs.rmSync(path.dirname(caFile), { recursive: true, force: true });
    });
});
