// The local stack end to end: `pulumi up` over SSH against this machine as the VPS
// (bootstrap, Docker over ssh://, every container), HTTPS through Caddy to the apps and
// the database, idempotency, a targeted change, no secret in the state, migration day
// (Supabase's and the SuperTokens core's data in, verified), drift made by hand found and
// repaired (npm run drift), and a destroy that keeps the data. Needs `bash tools/local-stack.sh setup` first (tools/test.sh).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { explain, needsPlugins, pulumi, REPO, run } from "./pulumi";
import { CORE_TABLES, MANAGED_CORE_DATA, PASSWORD_HASHES } from "./supertokens-fixture";

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

/** Runs SQL (`-c`), or a script on stdin with psql variables, as the superuser in a container. */
/** An app's serving container: one per release, found by its service label (as the scripts find it). */
function release(app: "backend" | "frontend"): string {
    const names = docker(["ps", "-a", "--filter", `label=org.byte-runner.service=${PREFIX}-${app}`, "--format", "{{.Names}}"]).split("\n").filter(Boolean);
    assert.equal(names.length, 1, `${app}: expected one release container, found ${names.join(", ") || "none"}`);
    return names[0];
}

function psql(sql: string, container = `${PREFIX}-postgres`, database = "app", script?: { text: string; vars?: Record<string, string> }): string {
    const vars = Object.entries(script?.vars ?? {}).flatMap(([k, v]) => ["-v", `${k}=${v}`]);
    const r = run("docker", ["exec", "-i", container, "psql", "-U", "postgres", "-d", database, "-tA", "-v", "ON_ERROR_STOP=1", ...vars, ...(script ? ["-f", "-"] : ["-c", sql])], {
        input: script?.text,
    });
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}

/** npm run drift -- local [...]: tools/drift.ts with this Node. */
function drift(args: string[] = []) {
    return run(process.execPath, ["--import", "tsx", "tools/drift.ts", "local", ...args], { timeoutMs: 15 * 60_000 });
}

const FIREWALL_TABLE = ["inet", "byte_runner_firewall"];

function config(args: string[]): void {
    const r = pulumi(["config", ...args, ...STACK.slice(0, 2)]);
    assert.equal(r.status, 0, explain(r));
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
        assert.ok(fs.existsSync(path.join(REPO, "Pulumi.local.yaml")), "run `bash tools/local-stack.sh setup` first");
    });

    it("1. pulumi up creates everything over SSH, bootstrap and Docker over ssh:// included", { skip: SKIP }, () => {
        up();
        const names = docker(["ps", "--filter", "label=org.byte-runner.managed-by", "--format", "{{.Names}} {{.Status}}"]).split("\n");
        for (const service of ["postgres", "pgbouncer", "supertokens", "backend", "frontend", "caddy"]) {
            // The apps run one container per release: <prefix>-<app>-<release id>.
            const line = names.find((n) => new RegExp(`^${PREFIX}-${service}(-[0-9a-f]{10})? `).test(n));
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
        // Restored afterwards to what the stack had, whatever its default is.
        const before = pulumi(["config", "get", ...STACK.slice(0, 2), "poolerDefaultPoolSize"]);
        assert.equal(before.status, 0, explain(before));
        assert.notEqual(before.stdout.trim(), "12", "the step needs a pool size other than 12 to change to");
        let r = pulumi(["config", "set", ...STACK.slice(0, 2), "poolerDefaultPoolSize", "12"]);
        assert.equal(r.status, 0, explain(r));
        try {
            // The backend's new settings are a new release: its id, its container, the release that switches to it.
            assert.deepEqual(plannedChanges(), [
                "command:remote:Command::backend-release",
                "docker:index/container:Container::backend",
                "docker:index/container:Container::pooler",
                "random:index/randomId:RandomId::backend-release-id",
            ]);
            up();
            const ini = docker(["exec", `${PREFIX}-pgbouncer`, "cat", "/etc/pgbouncer/pgbouncer.ini"]);
            assert.match(ini, /^default_pool_size = 12$/m);
        } finally {
            r = pulumi(["config", "set", ...STACK.slice(0, 2), "poolerDefaultPoolSize", before.stdout.trim()]);
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

    it("5b. drift by hand (a container stopped, one made again with another env, the firewall's rules flushed, then its table deleted) is named and repaired", { skip: SKIP }, () => {
        // The local stack runs without the firewall: its policy drops what containers send to
        // this machine (the S3 server, the alert receiver). It is on for this step only.
        // Flushed, not `nft flush table`: that keeps the base chains' drop policy with no rule
        // left, cutting every inbound packet, loopback and the SSH that checks it included.
        config(["set", "firewallEnabled", "true"]);
        try {
            up();
            let r = drift();
            assert.equal(r.status, 0, explain(r));
            assert.match(r.stdout, /no drift/);

            const backend = release("backend");
            const frontend = release("frontend");
            docker(["stop", frontend]);
            const inspected = JSON.parse(docker(["inspect", backend]))[0] as { Config: { Env: string[]; Image: string }; NetworkSettings: { Networks: Record<string, unknown> } };
            docker(["rm", "-f", backend]);
            // Its env (secrets among it) through a 0600 file, never a command line.
            const envFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "byte-runner-drift-")), "env");
            fs.writeFileSync(envFile, [...inspected.Config.Env, "DRIFT_SET_BY_HAND=1"].join("\n") + "\n", { mode: 0o600 });
            try {
                docker(["run", "-d", "--name", backend, "--network", Object.keys(inspected.NetworkSettings.Networks)[0], "--env-file", envFile, inspected.Config.Image]);
            } finally {
                fs.rmSync(path.dirname(envFile), { recursive: true, force: true });
            }
            assert.match(run("nft", ["list", "chain", ...FIREWALL_TABLE, "allowed_services"]).stdout, /accept/);
            const flushed = run("nft", ["flush", "chain", ...FIREWALL_TABLE, "allowed_services"]);
            assert.equal(flushed.status, 0, explain(flushed));

            r = drift();
            assert.equal(r.status, 1, explain(r));
            assert.match(r.stdout, new RegExp(`- container ${frontend}: exited`), r.stdout);
            assert.match(r.stdout, new RegExp(`- container ${backend}: not the container Pulumi made .*environment differs: DRIFT_SET_BY_HAND added`), r.stdout);
            assert.match(r.stdout, /- firewall \(firewall-apply\): .*edited by hand/, r.stdout);
            assert.match(r.stdout, /npm run drift -- local --repair/);

            r = drift(["--repair"]);
            assert.equal(r.status, 0, explain(r));
            assert.match(r.stdout, /after the repair:\ndrift: stack local: no drift/, r.stdout);
            assert.equal(docker(["inspect", "-f", "{{.State.Running}}", frontend]), "true");
            assert.ok(!docker(["inspect", "-f", "{{json .Config.Env}}", backend]).includes("DRIFT_SET_BY_HAND"), "the hand-made backend is still there");
            assert.match(run("nft", ["list", "chain", ...FIREWALL_TABLE, "allowed_services"]).stdout, /accept/);
            const health = https(API, "/health");
            assert.equal(health.status, 200, health.body);

            // The whole table gone, as `nft delete table` or a `flush ruleset` leaves it: named
            // by --repair's first look, loaded again, and its second look is clean.
            const deleted = run("nft", ["delete", "table", ...FIREWALL_TABLE]);
            assert.equal(deleted.status, 0, explain(deleted));
            r = drift(["--repair"]);
            assert.equal(r.status, 0, explain(r));
            assert.match(r.stdout, /^drift: stack local: 1 difference\(s\)[^\n]*\n {2}- firewall \(firewall-apply\): .*table inet byte_runner_firewall is missing\)$/m, r.stdout);
            assert.match(r.stdout, /after the repair:\ndrift: stack local: no drift/, r.stdout);
            assert.equal(run("nft", ["list", "table", ...FIREWALL_TABLE]).status, 0, "the repair did not load the table again");
        } finally {
            config(["set", "firewallEnabled", "false"]);
            up();
            // Whatever happened above, this machine is left without the firewall it does not run.
            run("nft", ["delete", "table", ...FIREWALL_TABLE]);
        }
    });

    it("6. migration day: one run id moves Supabase's data and the SuperTokens core's in, verified; a second up runs nothing", { skip: SKIP }, () => {
        // "Supabase" and the restored SuperTokens export: a Postgres container the VPS reaches over the edge network.
        const source = `${PREFIX}-e2e-source`;
        const sourcePassword = `e2e${Date.now()}SourcePw0123`;
        const runId = `e2e-${process.pid}`;
        run("docker", ["rm", "-f", source]);
        docker(["run", "-d", "--name", source, "--network", `${PREFIX}-edge`, "-e", `POSTGRES_PASSWORD=${sourcePassword}`, "byte-runner-local/postgres:15"]);
        try {
            for (let i = 0; i < 60 && run("docker", ["exec", source, "pg_isready", "-q", "-h", "127.0.0.1"]).status !== 0; i++) run("sleep", ["1"]);
            psql("create database app", source, "postgres");
            const fixture = (file: string) => fs.readFileSync(path.join(REPO, "components/migration/fixture", file), "utf8");
            psql("", source, "app", { text: fixture("supabase-source.sql") });
            psql("", source, "app", { text: fixture("events.sql"), vars: { first: "1", rows: "20000" } });
            psql("create database st_export", source, "postgres");
            psql(CORE_TABLES + MANAGED_CORE_DATA, source, "st_export");
            // What the core does on its first start: its own tables, a key, no user.
            psql(`SET ROLE supertokens; ${CORE_TABLES} INSERT INTO key_value (name, value) VALUES ('refresh_token_key', 'fresh-core-key');`, `${PREFIX}-postgres`, "supertokens");

            // The backend made its own table on its first start (as an app running its migrations
            // does), so the new app database is not empty: replacing it takes migrationForce, which
            // the config allows only while the DNS does not point at this VPS.
            assert.ok(Number(psql("select count(*) from pg_tables where schemaname = 'public'")) >= 1);
            config(["set", "migrationForce", "true"]);
            config(["set", "migrationRunId", runId]);
            config(["set", "--secret", "migrationSourceDatabaseUrl", `postgresql://postgres:${sourcePassword}@${source}:5432/app`]);
            config(["set", "--secret", "migrationAuthSourceDatabaseUrl", `postgresql://postgres:${sourcePassword}@${source}:5432/st_export`]);
            const steps = ["dump", "restore", "verify"].flatMap((s) => [`command:remote:Command::migration-${s}`, `command:remote:Command::migration-auth-${s}`]);
            assert.deepEqual(plannedChanges(), [...steps, "command:remote:Command::migration-upload-migration-step.sh", "command:remote:Command::migration-upload-pg-migrate", "byte-runner:migration:Migration::migration"].sort());
            up();

            // The app's data and the users with their password hashes are there; verify passed.
            assert.equal(psql("select count(*) from public.events"), "20000");
            assert.equal(psql("select string_agg(distinct tableowner, ',') from pg_tables where schemaname = 'public'"), "app");
            assert.equal(psql(PASSWORD_HASHES, `${PREFIX}-postgres`, "supertokens"), psql(PASSWORD_HASHES, source, "st_export"));
            assert.equal(psql("select value from key_value where name = 'refresh_token_key'", `${PREFIX}-postgres`, "supertokens"), "managed-core-refresh-key");
            // Verify passed although the backend writes on every health check: it was stopped from
            // restore to verify. Both services run again; the backend reaches the new database
            // through PgBouncer and makes its table there again.
            assert.equal(docker(["inspect", "-f", "{{.State.Running}}", `${PREFIX}-supertokens`]), "true", "supertokens");
            assert.match(docker(["ps", "--filter", `label=org.byte-runner.service=${PREFIX}-backend`, "--format", "{{.State}}"]), /^running$/, "backend");
            let health = https(API, "/health");
            for (let i = 0; i < 10 && health.status !== 200; i++, run("sleep", ["1"])) health = https(API, "/health");
            assert.equal(health.status, 200, health.body);
            assert.equal(psql("select count(*) from public.standin_health"), "1");

            // The same run id never runs again; the source's password is not in the state.
            up(["--expect-no-changes"]);
            const exported = pulumi(["stack", "export", ...STACK.slice(0, 2)]);
            assert.equal(exported.status, 0, explain(exported));
            assert.ok(!exported.stdout.includes(sourcePassword), "the source URL is in the state in plain text");
        } finally {
            // Forgetting the run removes the steps from the state and touches no data.
            for (const key of ["migrationAuthSourceDatabaseUrl", "migrationSourceDatabaseUrl", "migrationRunId", "migrationForce"]) pulumi(["config", "rm", key, ...STACK.slice(0, 2)]);
            up();
            run("docker", ["rm", "-f", source]);
            fs.rmSync(`/var/lib/byte-runner/migration/${runId}`, { recursive: true, force: true });
            fs.rmSync(`/var/lib/byte-runner/migration/${runId}-auth`, { recursive: true, force: true });
        }
        assert.equal(psql("select count(*) from public.events"), "20000");
    });

    it("7. pulumi destroy removes containers and networks and keeps the data; a new up finds it", { skip: SKIP }, () => {
        const marker = `e2e-${Date.now()}`;
        psql(`create table if not exists e2e_marker(v text); insert into e2e_marker values ('${marker}')`);
        // The backups outlive the stack too; the stack made anew reads them with the kept passphrase (runbook).
        const outputs = pulumi(["stack", "output", ...STACK, "--show-secrets", "--json"]);
        assert.equal(outputs.status, 0, explain(outputs));
        const passphrase = (JSON.parse(outputs.stdout) as Record<string, string>).backupPassphrase;
        const kept = pulumi(["config", "set", "--secret", "backupPassphrase", ...STACK.slice(0, 2)], { input: passphrase });
        assert.equal(kept.status, 0, explain(kept));
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
