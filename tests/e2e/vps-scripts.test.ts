// The scripts the stack runs on the VPS, against real containers of the local Postgres
// image on this machine's Docker engine: the role set-up (components/postgres/db-roles.sh) and the
// migration steps (components/migration/migration-step.sh driving components/migration/pg-migrate).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { FRESH_CORE_TABLE, PG_MIGRATE, stepSettings } from "../../components/migration";
import { rolesSettings } from "../../components/postgres";
import { sha256 } from "../../components/shared/naming";
import { shippedText } from "../../components/shared/vps-script";
import { explain, REPO, run } from "./pulumi";
import { CORE_TABLES, MANAGED_CORE_DATA, PASSWORD_HASHES } from "./supertokens-fixture";

const IMAGE = "byte-runner-local/postgres:15";
const TAG = `brtest${process.pid}`;
const EDGE = `${TAG}-edge`;
const INTERNAL = `${TAG}-internal`;
const TARGET = `${TAG}-target`;
const SOURCE = `${TAG}-source`;
const SUPER_PW = "TargetSuperuser0123456789";
const APP_PW = "AppRolePassword0123456789";
const AUTH_PW = "AuthRolePassword012345678";
const MONITOR_PW = "MonitorRolePassword0123456";
const SOURCE_PW = "SourcePassword0123456789x";
const RUN_ID = `t${process.pid}`;

function docker(args: string[], input?: string): string {
    const r = run("docker", args, { input });
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}
const sql = (container: string, database: string, query: string) =>
    docker(["exec", "-i", container, "psql", "-U", "postgres", "-d", database, "-tA", "-v", "ON_ERROR_STOP=1", "-c", query]);
const waitReady = (container: string) => {
    for (let i = 0; i < 60; i++) {
        if (run("docker", ["exec", container, "pg_isready", "-q", "-h", "127.0.0.1"]).status === 0) return;
        run("sleep", ["1"]);
    }
    assert.fail(`${container} not ready`);
};
/** db-roles.sh's settings, as the Postgres component renders them. */
const roles = (appPassword = APP_PW) =>
    rolesSettings(
        TARGET,
        SUPER_PW,
        [
            { role: "app", database: "app", password: appPassword },
            { role: "supertokens", database: "supertokens", password: AUTH_PW },
        ],
        MONITOR_PW,
    );
/**
 * What a step reads on stdin, as the Migration component renders it, with `overrides`
 * over single settings. pg-migrate is the repository's file (the shipping itself is
 * proven in ship-script.test.ts).
 */
const stepEnv = (chain: "app" | "auth", runId: string, source: string, target: string, service: string, overrides: Record<string, string> = {}) => {
    let text = stepSettings({
        chain,
        runId,
        pgMigrate: { path: path.join(REPO, "components", PG_MIGRATE), sha256: sha256(shippedText(PG_MIGRATE)) },
        image: IMAGE,
        edgeNetwork: EDGE,
        internalNetwork: INTERNAL,
        service,
        sourceDatabaseUrl: `postgresql://postgres:${SOURCE_PW}@${SOURCE}:5432/${source}`,
        targetDatabaseUrl: `postgresql://postgres:${SUPER_PW}@${TARGET}:5432/${target}`,
        role: chain === "app" ? "app" : "supertokens",
        schemas: "public",
        jobs: 2,
        rls: "disable",
        force: false,
        replaceIfEmpty: chain === "app" ? "" : FRESH_CORE_TABLE,
        mode: "dump",
        freezeRoles: "",
        cutoverMaxLagBytes: 16777216,
    });
    for (const [key, value] of Object.entries(overrides)) {
        assert.match(text, new RegExp(`^${key}=`, "m"), `no setting ${key}`);
        text = text.replace(new RegExp(`^${key}=.*$`, "m"), `${key}=${value}`);
    }
    return text;
};
/** The arguments of migration-step.sh as the Migration component passes them on the VPS: the step, nothing else. */
const stepArgs = (name: string) => ["components/migration/migration-step.sh", name];
const runStep = (name: string, env: string) => run("bash", stepArgs(name), { input: env, timeoutMs: 10 * 60_000 });
const step = (name: string, force = false) => runStep(name, stepEnv("app", RUN_ID, "postgres", "app", "", { FORCE: force ? "1" : "0" }));

// The SuperTokens core's data, as the Migration component moves it: its own work
// directory (<run id>-auth), the core's database, and the core's container stopped from restore to verify.
const CORE = `${TAG}-core`;
const AUTH_RUN_ID = `${RUN_ID}-auth`;
const authStep = (name: string, overrides: Record<string, string> = {}) => runStep(name, stepEnv("auth", RUN_ID, "st_export", "supertokens", CORE, overrides));
const coreRunning = () => docker(["container", "inspect", "-f", "{{.State.Running}}", CORE]) === "true";

describe("scripts run on the VPS, against real Postgres containers", { concurrency: false }, () => {
    before(() => {
        docker(["network", "create", EDGE]);
        docker(["network", "create", "--internal", INTERNAL]);
        docker(["run", "-d", "--name", TARGET, "--network", INTERNAL, "-e", `POSTGRES_PASSWORD=${SUPER_PW}`, IMAGE]);
        docker(["run", "-d", "--name", SOURCE, "--network", EDGE, "-e", `POSTGRES_PASSWORD=${SOURCE_PW}`, IMAGE]);
        waitReady(SOURCE);
        sql(SOURCE, "postgres", "create table public.items(id serial primary key, name text not null, created timestamptz default now()); insert into public.items(name) select 'item ' || g from generate_series(1, 5000) g;");
    });

    it("db-roles.sh gives each role exactly its own database, and a second run changes nothing", () => {
        for (let i = 0; i < 2; i++) {
            const r = run("bash", ["components/postgres/db-roles.sh"], { input: roles() });
            assert.equal(r.status, 0, explain(r));
            assert.match(r.stdout, /2 role\(s\) each owning only its database, and monitoring role monitor in place/);
            for (const password of [APP_PW, MONITOR_PW]) assert.ok(!(r.stdout + r.stderr).includes(password), "a password in the output");
        }
        assert.equal(sql(TARGET, "postgres", "select string_agg(datname || '=' || pg_get_userbyid(datdba), ',' order by datname) from pg_database where datname in ('app','supertokens')"), "app=app,supertokens=supertokens");
        const connect = (user: string, password: string, database: string) =>
            run("docker", ["exec", "-e", `PGPASSWORD=${password}`, TARGET, "psql", "-h", "127.0.0.1", "-U", user, "-d", database, "-tAc", "select current_user"]);
        assert.equal(connect("app", APP_PW, "app").stdout.trim(), "app");
        assert.notEqual(connect("app", APP_PW, "supertokens").status, 0, "app may connect to the supertokens database");
        assert.notEqual(connect("supertokens", AUTH_PW, "app").status, 0, "supertokens may connect to the app database");
        assert.equal(sql(TARGET, "postgres", "select rolsuper or rolcreatedb or rolcreaterole from pg_roles where rolname = 'app'"), "f");
        // The monitoring role reads statistics (pg_monitor, pg_stat_statements in postgres) and no data.
        assert.equal(connect("monitor", MONITOR_PW, "postgres").stdout.trim(), "monitor");
        assert.equal(sql(TARGET, "postgres", "select pg_has_role('monitor', 'pg_monitor', 'member') and not rolsuper from pg_roles where rolname = 'monitor'"), "t");
        assert.equal(sql(TARGET, "postgres", "select count(*) from pg_extension where extname = 'pg_stat_statements'"), "1");
        assert.notEqual(connect("monitor", MONITOR_PW, "app").status, 0, "the monitoring role may connect to the app database");
    });

    it("db-roles.sh refuses a weak password without touching anything", () => {
        const r = run("bash", ["components/postgres/db-roles.sh"], { input: roles("short") });
        assert.equal(r.status, 2);
        assert.match(r.stderr, /the password of role app must be 16\+ letters and digits/);
    });

    it("migration-step.sh: dump -> restore -> verify copies the data, as the app role can read it", () => {
        for (const name of ["dump", "restore", "verify"]) {
            const r = step(name);
            assert.equal(r.status, 0, `${name}: ${explain(r)}`);
            assert.ok(!(r.stdout + r.stderr).includes(SOURCE_PW) && !(r.stdout + r.stderr).includes(SUPER_PW), `${name} printed a password`);
        }
        assert.equal(sql(TARGET, "app", "select count(*) from public.items"), "5000");
        // The restored database keeps the isolation db-roles.sh set up.
        const connect = run("docker", ["exec", "-e", `PGPASSWORD=${AUTH_PW}`, TARGET, "psql", "-h", "127.0.0.1", "-U", "supertokens", "-d", "app", "-tAc", "select 1"]);
        assert.notEqual(connect.status, 0, "after the restore, the supertokens role may connect to the app database");
        assert.deepEqual(fs.readdirSync("/var/lib/byte-runner/migration").filter((f) => f.startsWith(".env-")), [], "a secrets file was left behind");
    });

    it("migration-step.sh: a second restore into the now non-empty database is refused and changes nothing", () => {
        sql(TARGET, "app", "insert into public.items(name) values ('written on the new side')");
        const r = step("restore");
        assert.notEqual(r.status, 0, "a second restore must be refused");
        assert.equal(sql(TARGET, "app", "select count(*) from public.items"), "5001");
    });

    it("migration-step.sh: verify names the table that differs", () => {
        const r = step("verify");
        assert.notEqual(r.status, 0);
        assert.match(r.stdout + r.stderr, /public\.items/);
    });

    it("migration-step.sh, auth data: a fresh core's database is replaced, password hashes and keys intact; the core is down from restore to verify", () => {
        sql(SOURCE, "postgres", "create database st_export");
        sql(SOURCE, "st_export", CORE_TABLES + MANAGED_CORE_DATA);
        // What a new core does on its first start: its tables in its own database, a key of its own, no user.
        sql(TARGET, "supertokens", `SET ROLE supertokens; ${CORE_TABLES} INSERT INTO key_value (name, value) VALUES ('refresh_token_key', 'fresh-core-key');`);
        // A stand-in for the core that stops at once (the image's stop signal is INT), as the real one does.
        docker(["run", "-d", "--name", CORE, "--network", INTERNAL, "--entrypoint", "bash", IMAGE, "-c", "trap 'exit 0' TERM INT; sleep infinity & wait"]);

        const dump = authStep("dump");
        assert.equal(dump.status, 0, explain(dump));
        assert.ok(coreRunning(), "dump stopped the core");
        const restore = authStep("restore");
        assert.equal(restore.status, 0, explain(restore));
        assert.match(restore.stdout, /stopped .*-core: it stays stopped until verify has run/);
        assert.ok(!coreRunning(), "the core runs on a database verify has not checked yet");
        const verify = authStep("verify");
        assert.equal(verify.status, 0, explain(verify));
        assert.ok(coreRunning(), "verify did not start the core again");
        for (const r of [dump, restore, verify]) assert.ok(!(r.stdout + r.stderr).includes(SOURCE_PW) && !(r.stdout + r.stderr).includes(SUPER_PW), "a password in the output");

        assert.equal(sql(TARGET, "supertokens", PASSWORD_HASHES), sql(SOURCE, "st_export", PASSWORD_HASHES));
        assert.equal(sql(TARGET, "supertokens", "select count(*) from all_auth_recipe_users"), "300");
        assert.equal(sql(TARGET, "supertokens", "select value from key_value where name = 'refresh_token_key'"), "managed-core-refresh-key");
        assert.equal(sql(TARGET, "supertokens", "select value from session_access_token_signing_keys"), "managed-core-signing-key");
        // The core's role owns its tables again (it migrates its own schema on upgrades) and still reaches only its database.
        assert.equal(sql(TARGET, "supertokens", "select string_agg(distinct tableowner, ',') from pg_tables where schemaname = 'public'"), "supertokens");
        const asCore = (database: string) =>
            run("docker", ["exec", "-e", `PGPASSWORD=${AUTH_PW}`, TARGET, "psql", "-h", "127.0.0.1", "-U", "supertokens", "-d", database, "-tAc", "select count(*) from emailpassword_users"]);
        assert.equal(asCore("supertokens").stdout.trim(), "300");
        assert.notEqual(asCore("app").status, 0);
    });

    it("migration-step.sh: a verify that finds a difference starts the core again; one that cannot run leaves it stopped and says so", () => {
        sql(TARGET, "supertokens", "update emailpassword_users set password_hash = 'x' || password_hash where email = 'user7@example.com'");
        try {
            docker(["stop", CORE]);
            const differs = authStep("verify");
            assert.notEqual(differs.status, 0);
            assert.match(differs.stderr, /MISMATCH in tables: public\.emailpassword_users/);
            assert.ok(coreRunning(), "a verify with an answer must start the core again");

            docker(["stop", CORE]);
            const cannot = authStep("verify", { APP_ROLE: "no_such_role" });
            assert.notEqual(cannot.status, 0);
            assert.match(cannot.stderr, /stays stopped: verify did not get an answer; .*docker start .*-core/);
            assert.ok(!coreRunning(), "verify without an answer must leave the core stopped for a retry");
        } finally {
            sql(TARGET, "supertokens", "update emailpassword_users set password_hash = substr(password_hash, 2) where email = 'user7@example.com'");
            docker(["start", CORE]);
        }
    });

    it("migration-step.sh: a restore that fails after the core was stopped starts it again on its unchanged database", () => {
        const before = sql(TARGET, "supertokens", "select oid from pg_database where datname = 'supertokens'");
        // Passes the checks, then fails creating the tables: the app role may not create in the core's database.
        const r = authStep("restore", { FORCE: "1", OWNER: "app" });
        assert.notEqual(r.status, 0, explain(r));
        assert.match(r.stdout, /stopped .*-core: it stays stopped until verify has run/);
        assert.match(r.stderr, /permission denied for schema public/);
        assert.match(r.stdout, /started .*-core again/);
        assert.ok(coreRunning(), "a failed restore left the core stopped");
        assert.equal(sql(TARGET, "supertokens", "select oid from pg_database where datname = 'supertokens'"), before);
        assert.equal(sql(TARGET, "supertokens", "select count(*) from emailpassword_users"), "300");
    });

    it("migration-step.sh, auth data: a core database with users is refused before the core is stopped, and nothing changes", () => {
        const before = sql(TARGET, "supertokens", "select oid from pg_database where datname = 'supertokens'");
        const startedAt = docker(["container", "inspect", "-f", "{{.State.StartedAt}}", CORE]);
        const r = authStep("restore");
        assert.equal(r.status, 1, explain(r));
        assert.match(r.stderr, /public\.all_auth_recipe_users holds rows: nothing was changed/);
        assert.match(r.stderr, /-core was not stopped/);
        assert.ok(coreRunning(), "a refused restore left the core stopped");
        assert.equal(docker(["container", "inspect", "-f", "{{.State.StartedAt}}", CORE]), startedAt, "the core was restarted");
        assert.equal(sql(TARGET, "supertokens", "select oid from pg_database where datname = 'supertokens'"), before);
        assert.equal(sql(TARGET, "supertokens", "select count(*) from emailpassword_users"), "300");
    });

    it("migration-step.sh: a restore whose script is stopped midway (TERM) leaves the target as it was and the service running", async () => {
        // Big enough that the restore is still running when the session goes.
        sql(SOURCE, "postgres", "create database big");
        sql(SOURCE, "big", "create table t (id bigint primary key, k int, v text); insert into t select g, g % 1000, md5(g::text) from generate_series(1, 1500000) g; create index on t (k, v)");
        const bigRun = `${RUN_ID}-big`;
        const env = stepEnv("app", bigRun, "big", "app", CORE, { FORCE: "1" });
        assert.equal(runStep("dump", env).status, 0);
        const before = sql(TARGET, "postgres", "select oid from pg_database where datname = 'app'");
        const items = sql(TARGET, "app", "select count(*) from public.items");

        const child = spawn("bash", stepArgs("restore"), {
            stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        child.stdin.end(env);
        const exited = new Promise<number>((resolve) => child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 : -1))));
        // Stopped while the indexes are built: the staging database exists, the target is untouched.
        for (let i = 0; i < 1200 && !/data loaded after/.test(out); i++) await new Promise((r) => setTimeout(r, 100));
        assert.match(out, /stopped .*-core/, out);
        assert.match(out, /data loaded after/, out);
        // To the script alone (a supervisor stopping it): it must not wait for the restore to end.
        process.kill(child.pid!, "SIGTERM");
        const code = await exited;

        assert.notEqual(code, 0, out);
        assert.doesNotMatch(out, /restore complete/, "the restore ran to its end before the script acted on the signal");
        assert.match(out, /started .*-core again/, out);
        assert.ok(coreRunning(), "the core was left stopped");
        assert.equal(sql(TARGET, "postgres", "select oid from pg_database where datname = 'app'"), before, "the target was replaced");
        assert.equal(sql(TARGET, "app", "select count(*) from public.items"), items);
        assert.equal(sql(TARGET, "postgres", "select count(*) from pg_database where datname like '%pgmigrate%'"), "0", "a staging database was left behind");
        assert.equal(run("docker", ["container", "inspect", `byte-runner-migration-restore-${bigRun}`]).status, 1, "the step's container was left behind");
        fs.rmSync(`/var/lib/byte-runner/migration/${bigRun}`, { recursive: true, force: true });
    });

    after(() => {
        run("docker", ["rm", "-f", TARGET, SOURCE, CORE]);
        run("docker", ["network", "rm", EDGE, INTERNAL]);
        for (const id of [RUN_ID, AUTH_RUN_ID]) fs.rmSync(`/var/lib/byte-runner/migration/${id}`, { recursive: true, force: true });
    });
});
