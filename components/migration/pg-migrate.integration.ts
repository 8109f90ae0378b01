// pg-migrate against real PostgreSQL 15 clusters: a Supabase-shaped source with a 1M-row
// table, and a vanilla target without any Supabase role or schema.
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
    allCommandLines,
    baseBackup,
    type Cluster,
    ownedByPostgres,
    psql,
    psqlAsync,
    removeDir,
    restartWithConfig,
    runPgMigrate,
    type RunResult,
    scratchDir,
    startCluster,
    superuserPassword,
    tableFingerprints,
    waitFor,
    loadSupabaseFixture,
    createAppDatabase,
    removeClusters,
} from "./pg-migrate.harness";

const fixtureRows = 1_000_000;
const appRole = "app_user";
const appRolePassword = "app-role-password-for-tests";

/** fingerprint's stdout as table -> rows. */
function fingerprintRows(stdout: string): Map<string, number> {
    return new Map(
        stdout
            .trimEnd()
            .split("\n")
            .map((line) => line.split("\t"))
            .map(([table, rows]) => [table, Number(rows)]),
    );
}

describe("pg-migrate on real PostgreSQL 15", { concurrency: false }, () => {
    let root: string;
    let source: Cluster;
    let target: Cluster;
    const env = (extra: Record<string, string> = {}): Record<string, string> => ({
        SOURCE_DATABASE_URL: source.url("app"),
        TARGET_DATABASE_URL: target.url("app"),
        DUMP_DIR: join(root, "dump"),
        APP_ROLE: appRole,
        JOBS: "2",
        ...extra,
    });

    before(() => {
        root = scratchDir("pg-migrate-test-");
        source = startCluster(join(root, "source"));
        target = startCluster(join(root, "target"));
        loadSupabaseFixture(source, fixtureRows);
        createAppDatabase(target, appRole, appRolePassword);
    });

    after(() => removeClusters(root, source, target));

    test("the fixture is Supabase-shaped and has a table of at least 1M rows", () => {
        assert.equal(source.psql("app", "SELECT count(*) FROM public.events"), String(fixtureRows));
        assert.equal(source.psql("app", "SELECT count(*) FROM pg_publication WHERE pubname = 'supabase_realtime'"), "1");
        assert.equal(source.psql("app", "SELECT count(*) FROM pg_event_trigger"), "1");
        assert.equal(
            source.psql("app", "SELECT count(*) FROM pg_namespace WHERE nspname IN ('auth', 'storage', 'extensions', 'realtime', 'vault')"),
            "5",
        );
        assert.equal(target.psql("postgres", "SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated')"), "0");
    });

    test("audit classifies the Supabase findings and writes the JSON report", async () => {
        const auditJson = join(root, "audit.json");
        const result = await runPgMigrate(["audit"], env({ AUDIT_JSON: auditJson }));
        assert.equal(result.status, 0, result.stderr);
        const report = JSON.parse(readFileSync(auditJson, "utf8"));
        const find = (kind: string, object: string) =>
            report.findings.find((f: { kind: string; object: string }) => f.kind === kind && f.object === object);
        assert.equal(find("table", "public.events").class, "migrates");
        assert.equal(find("table without primary key", "public.audit_log").class, "needs-decision");
        assert.equal(find("foreign key into another schema", "public.profiles.profiles_id_fkey").class, "dropped");
        assert.equal(find("policy", "public.projects Owners see their projects").class, "needs-decision");
        assert.equal(find("function using Supabase schemas", "public.my_projects()").class, "needs-decision");
        assert.equal(find("publication", "supabase_realtime").class, "dropped");
        assert.equal(find("event trigger", "issue_pg_net_access").class, "dropped");
        assert.equal(find("extension", "uuid-ossp").class, "migrates");
        assert.equal((statSync(auditJson).mode & 0o777).toString(8), "600");
        assert.match(result.stdout, /summary: \d+ migrate as is, \d+ need a decision, \d+ dropped/);
    });

    test("dump, restore and verify: the copy matches and the app role reads every table", async () => {
        const seenCommandLines = new Set<string>();
        const watch = setInterval(() => allCommandLines().forEach((line) => seenCommandLines.add(line)), 20);
        let dump, restore, verify;
        try {
            dump = await runPgMigrate(["dump"], env());
            restore = await runPgMigrate(["restore"], env());
            verify = await runPgMigrate(["verify"], env());
        } finally {
            clearInterval(watch);
        }
        assert.equal(dump.status, 0, dump.stderr);
        assert.equal(restore.status, 0, restore.stderr);
        assert.equal(verify.status, 0, verify.stdout + verify.stderr);

        const dumpDir = join(root, "dump");
        assert.equal((statSync(dumpDir).mode & 0o777).toString(8), "700");
        assert.ok(existsSync(join(dumpDir, "B2SUMS")));
        assert.ok([...seenCommandLines].some((line) => line.includes("pg_dump") || line.includes("pg_restore")), "the watcher saw the tools");
        for (const line of seenCommandLines) {
            assert.ok(!line.includes(superuserPassword) && !line.includes(encodeURIComponent(superuserPassword)), `secret in argv: ${line}`);
        }
        for (const output of [dump, restore, verify]) {
            assert.ok(!(output.stdout + output.stderr).includes(encodeURIComponent(superuserPassword)));
        }

        // RLS was an explicit, reported decision; no deny-all left behind.
        assert.match(restore.stdout, /public\.profiles\s+RLS disabled, 2 policies left out/);
        assert.equal(target.psql("app", "SELECT count(*) FROM pg_class WHERE relrowsecurity"), "0");
        assert.equal(target.psql("app", "SELECT count(*) FROM pg_constraint WHERE conname = 'profiles_id_fkey'"), "0");
        assert.equal(target.psql("app", "SELECT count(*) FROM pg_trigger WHERE tgname = 'messages_webhook'"), "0");
        assert.equal(target.psql("app", "SELECT extnamespace::regnamespace FROM pg_extension WHERE extname = 'uuid-ossp'"), "extensions");
        assert.equal(target.psql("app", "SELECT count(*) FROM pg_database WHERE datname LIKE '%pgmigrate%'"), "0");

        // Verify's table and what it claims, checked independently.
        assert.match(verify.stdout, /public\.events\s+1000000\s+1000000\s+match\s+ok\s+ok/);
        assert.match(verify.stdout, /public\.projects_id_seq\s+5000\/t\s+5000\/t\s+ok/);
        assert.match(verify.stdout, /verify: OK/);
        assert.deepEqual(tableFingerprints(target, "app"), tableFingerprints(source, "app"));
        assert.equal(target.psql("app", "SELECT last_value FROM public.events_id_seq"), String(fixtureRows + 1000));

        // The app role, logged in with its own password, sees every row of every table.
        const tables = target.psql("app", "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public'").split("\n");
        assert.equal(tables.length, 5);
        for (const table of tables) {
            const asApp = psql(target.port, "app", `SELECT count(*) FROM ${table}`, appRole, appRolePassword);
            assert.equal(asApp, source.psql("app", `SELECT count(*) FROM ${table}`), table);
        }
        assert.equal(psql(target.port, "app", "SELECT count(*) FROM public.event_counts", appRole, appRolePassword), "5");
        assert.match(psql(target.port, "app", "SELECT public.next_invoice_number()", appRole, appRolePassword), /^1041$/);

        // The restored objects belong to the database's owner (the app), as the report says,
        // so the app's own schema migrations can still change its tables.
        assert.match(restore.stdout, new RegExp(`Owner of the restored objects: ${appRole}\n`));
        assert.equal(
            target.psql(
                "app",
                `SELECT string_agg(DISTINCT pg_get_userbyid(relowner)::text, ',') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = 'public' AND c.relkind IN ('r', 'S', 'v', 'm', 'i')`,
            ),
            appRole,
        );
        assert.equal(target.psql("app", "SELECT string_agg(DISTINCT pg_get_userbyid(proowner)::text, ',') FROM pg_proc WHERE pronamespace = 'public'::regnamespace"), appRole);
        assert.equal(target.psql("app", "SELECT string_agg(DISTINCT pg_get_userbyid(typowner)::text, ',') FROM pg_type WHERE typnamespace = 'public'::regnamespace"), appRole);
        psql(target.port, "app", "BEGIN; ALTER TABLE public.projects ADD COLUMN archived boolean; CREATE INDEX ON public.events (score); ROLLBACK", appRole, appRolePassword);
    });

    test("fingerprint: one line per table, equal for copies (restored, template), different after one changed row", async () => {
        const fingerprint = (url: string, extra: Record<string, string> = {}) => runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: url, ...extra });
        const live = await fingerprint(source.url("app"), { JOBS: "3" });
        assert.equal(live.status, 0, live.stderr);
        // stdout: only the sorted table lines; sequences are not part of it.
        assert.match(live.stdout, /^(public\.[a-z_]+\t\d+\t-?\d+\n)+$/);
        const names = live.stdout.trimEnd().split("\n").map((line) => line.split("\t")[0]);
        assert.deepEqual(names, ["public.audit_log", "public.event_counts", "public.events", "public.messages", "public.profiles", "public.projects"]);
        assert.match(live.stdout, /^public\.events\t1000000\t-?\d+$/m);
        assert.match(live.stderr, /fingerprint of 6 tables in public done in \d+s \(JOBS=3, one snapshot\)/);

        // The copy that restore made in the other cluster, and a template copy (an unlogged table there is left out).
        const restored = await fingerprint(target.url("app"));
        assert.equal(restored.status, 0, restored.stderr);
        assert.equal(restored.stdout, live.stdout);
        source.psql("postgres", "CREATE DATABASE app_fingerprint TEMPLATE app");
        try {
            source.psql("app_fingerprint", "CREATE UNLOGGED TABLE public.scratch AS SELECT 1 AS n");
            const copy = await fingerprint(source.url("app_fingerprint"), { JOBS: "1" });
            assert.equal(copy.status, 0, copy.stderr);
            assert.equal(copy.stdout, live.stdout);
            assert.match(copy.stderr, /left out, as unlogged tables \(a physical backup holds none of their rows\): public\.scratch\n/);

            source.psql("app_fingerprint", "UPDATE public.events SET score = score + 1 WHERE id = 500000");
            const changed = await fingerprint(source.url("app_fingerprint"));
            assert.equal(changed.status, 0, changed.stderr);
            const liveLines = live.stdout.split("\n");
            const differing = changed.stdout.split("\n").filter((line) => !liveLines.includes(line));
            assert.equal(differing.length, 1, changed.stdout);
            assert.match(differing[0], /^public\.events\t1000000\t-?\d+$/);
        } finally {
            source.psql("postgres", "DROP DATABASE app_fingerprint");
        }
    });

    test("a second restore into the now non-empty target is refused and changes nothing", async () => {
        const before = tableFingerprints(target, "app");
        const oid = target.psql("postgres", "SELECT oid FROM pg_database WHERE datname = 'app'");
        const result = await runPgMigrate(["restore"], env());
        assert.equal(result.status, 3);
        assert.match(result.stderr, /already has 5 user tables: nothing was changed/);
        assert.equal(target.psql("postgres", "SELECT oid FROM pg_database WHERE datname = 'app'"), oid, "same database, not replaced");
        assert.deepEqual(tableFingerprints(target, "app"), before);
        assert.equal(target.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%pgmigrate%'"), "0");
    });

    test("CHECK_ONLY=1 answers whether restore would go ahead, and changes nothing either way", async () => {
        const refused = await runPgMigrate(["restore"], env({ CHECK_ONLY: "1" }));
        assert.equal(refused.status, 3, refused.stderr);
        target.psql("postgres", `CREATE DATABASE app_check OWNER ${appRole}`);
        try {
            const ok = await runPgMigrate(["restore"], env({ CHECK_ONLY: "1", TARGET_DATABASE_URL: target.url("app_check") }));
            assert.equal(ok.status, 0, ok.stderr);
            assert.match(ok.stdout, /restore check: .* can be restored into app_check \(CHECK_ONLY=1: nothing was changed\)/);
            assert.equal(target.psql("app_check", "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"), "0");
            assert.equal(target.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%pgmigrate%'"), "0");
        } finally {
            target.psql("postgres", "DROP DATABASE app_check");
        }
    });

    test("one changed row in the target makes verify fail naming that table only", async () => {
        target.psql("app", "UPDATE public.messages SET body = body || '!' WHERE id = (SELECT id FROM public.messages ORDER BY id LIMIT 1)");
        try {
            const result = await runPgMigrate(["verify"], env());
            assert.equal(result.status, 4);
            assert.match(result.stderr, /MISMATCH in tables: public\.messages\n/);
            assert.match(result.stdout, /public\.messages\s+2000\s+2000\s+DIFFERS\s+ok\s+MISMATCH/);
            assert.match(result.stdout, /public\.events\s+1000000\s+1000000\s+match\s+ok\s+ok/);
        } finally {
            target.psql("app", "UPDATE public.messages SET body = left(body, -1) WHERE body LIKE '%!'");
        }
    });

    test("a changed enum value (hashed as text) and a deleted row are caught too", async () => {
        const status = target.psql("app", "SELECT status FROM public.projects WHERE id = 7");
        const audit = target.psql("app", "SELECT count(*) FROM public.audit_log");
        target.psql("app", "UPDATE public.projects SET status = CASE WHEN status = 'paid' THEN 'shipped'::order_status ELSE 'paid' END WHERE id = 7");
        target.psql("app", "DELETE FROM public.audit_log WHERE ctid = (SELECT min(ctid) FROM public.audit_log)");
        try {
            const result = await runPgMigrate(["verify"], env());
            assert.equal(result.status, 4);
            assert.match(result.stderr, /MISMATCH in tables: public\.audit_log public\.projects\n/);
            assert.match(result.stdout, /public\.projects\s+50\s+50\s+DIFFERS\s+ok\s+MISMATCH/);
            assert.match(result.stdout, new RegExp(`public\\.audit_log\\s+${audit}\\s+${Number(audit) - 1}\\s+DIFFERS\\s+ok\\s+MISMATCH`));
        } finally {
            target.psql("app", `UPDATE public.projects SET status = '${status}' WHERE id = 7`);
        }
    });

    test("a source connection killed mid-dump fails the dump and nothing is restored", async () => {
        target.psql("postgres", "CREATE DATABASE app_kill");
        const dumpDir = join(root, "dump-killed");
        // Waits inside the server for the dump's COPY of the big table (psql's \copy shows it as
        // COPY ( SELECT ... FROM "public" . "events" ...) when chunked), then kills that backend.
        const killer = psqlAsync(
            source.port,
            "app",
            `DO $$
             DECLARE deadline timestamptz := clock_timestamp() + interval '30 seconds';
             BEGIN
                 LOOP
                     PERFORM pg_stat_clear_snapshot();
                     IF EXISTS (SELECT 1 FROM pg_stat_activity WHERE query ~* '^COPY .*"?public"? *[.] *"?events"?') THEN
                         PERFORM pg_sleep(0.05); -- let some data flow first
                         PERFORM pg_stat_clear_snapshot();
                         PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ~* '^COPY .*"?public"? *[.] *"?events"?';
                         RETURN;
                     END IF;
                     EXIT WHEN clock_timestamp() > deadline;
                     PERFORM pg_sleep(0.01);
                 END LOOP;
                 RAISE EXCEPTION 'pg_dump never copied public.events';
             END $$`,
        );
        const dump = await runPgMigrate(["dump"], env({ DUMP_DIR: dumpDir, JOBS: "1" }));
        const killed = await killer;
        assert.equal(killed.status, 0, killed.stderr);
        assert.equal(dump.status, 1, dump.stderr);
        assert.match(dump.stderr, /terminating connection due to administrator command/);
        assert.match(dump.stderr, /copying a table out of the source failed .*the partial dump was removed, nothing can be restored from it/);
        for (const leftover of ["pgdump", "data", "meta", "B2SUMS"]) assert.ok(!existsSync(join(dumpDir, leftover)), `no partial ${leftover} left`);

        const restore = await runPgMigrate(["restore"], env({ DUMP_DIR: dumpDir, TARGET_DATABASE_URL: target.url("app_kill") }));
        assert.equal(restore.status, 2);
        assert.match(restore.stderr, /has no B2SUMS manifest: it is not a complete pg-migrate dump/);
        assert.equal(target.psql("app_kill", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
    });

    test("a failing restore leaves no half-restored database behind", async () => {
        // A dump whose restore must fail: a view on auth.users cannot exist without auth.
        source.psql("postgres", "CREATE DATABASE app_broken TEMPLATE app");
        source.psql("app_broken", "CREATE VIEW public.user_emails AS SELECT id, email FROM auth.users");
        target.psql("postgres", "CREATE DATABASE app_broken");
        const dumpDir = join(root, "dump-broken");
        const brokenEnv = env({ SOURCE_DATABASE_URL: source.url("app_broken"), TARGET_DATABASE_URL: target.url("app_broken"), DUMP_DIR: dumpDir });
        const dump = await runPgMigrate(["dump"], brokenEnv);
        assert.equal(dump.status, 0, dump.stderr);
        const restore = await runPgMigrate(["restore"], brokenEnv);
        assert.equal(restore.status, 1);
        assert.match(restore.stderr, /relation "auth.users" does not exist/);
        assert.match(restore.stderr, /staging database is dropped and the target is unchanged/);
        assert.equal(target.psql("app_broken", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "0");
        assert.equal(target.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE '%pgmigrate%'"), "0");
        source.psql("postgres", "DROP DATABASE app_broken");
    });

    test("RLS=keep-rewritten keeps the policies without Supabase objects, and verify reports them", async () => {
        // Owned by the app role, as in the stack: the owner would bypass the policies unless forced.
        target.psql("postgres", `CREATE DATABASE app_rls OWNER ${appRole}`);
        const rlsEnv = env({ TARGET_DATABASE_URL: target.url("app_rls"), RLS: "keep-rewritten" });
        const restore = await runPgMigrate(["restore"], rlsEnv);
        assert.equal(restore.status, 0, restore.stderr);
        assert.match(restore.stdout, /public\.projects\s+RLS kept, 1 policies/);
        assert.match(restore.stdout, new RegExp(`RLS is forced on these tables: ${appRole} owns them`));
        const policy = target.psql("app_rls", "SELECT pg_get_expr(polqual, polrelid) FROM pg_policy WHERE polname = 'Owners see their projects'");
        assert.match(policy, /current_setting\('request\.jwt\.claim\.sub'::text, true\)/);
        assert.equal(target.psql("app_rls", "SELECT count(*) FROM pg_policy WHERE 0 <> ALL (polroles) AND NOT polroles @> ARRAY[(SELECT oid FROM pg_roles WHERE rolname = 'app_user')]"), "0");
        // As the app with a user's claim set, it sees that user's projects only.
        const owner = source.psql("app", "SELECT owner_id FROM public.projects WHERE id = 1");
        const expected = source.psql("app", `SELECT count(*) FROM public.projects WHERE owner_id = '${owner}'`);
        const seen = psql(target.port, "app_rls", `SET request.jwt.claim.sub = '${owner}'; SELECT count(*) FROM public.projects`, appRole, appRolePassword);
        assert.equal(seen, expected);
        const verify = await runPgMigrate(["verify"], rlsEnv);
        assert.equal(verify.status, 0, verify.stdout + verify.stderr);
        assert.match(verify.stdout, /public\.projects\s+50\s+50\s+match\s+rls-filtered\s+ok/);
    });

    test("dump refuses a used DUMP_DIR; restore with FORCE=1 replaces a non-empty target", async () => {
        const again = await runPgMigrate(["dump"], env());
        assert.equal(again.status, 3);
        assert.match(again.stderr, /DUMP_DIR \(.*\) is not empty: choose a new directory or set FORCE=1/);
        assert.ok(existsSync(join(root, "dump", "B2SUMS")), "the existing dump is kept");

        const missingRole = await runPgMigrate(["restore"], env({ TARGET_DATABASE_URL: target.url("app_rls"), APP_ROLE: "no_such_role" }));
        assert.equal(missingRole.status, 2);
        assert.match(missingRole.stderr, /APP_ROLE 'no_such_role' does not exist on the target/);

        target.psql("app_rls", "CREATE TABLE public.stray (id int)");
        const forced = await runPgMigrate(["restore"], env({ TARGET_DATABASE_URL: target.url("app_rls"), FORCE: "1" }));
        assert.equal(forced.status, 0, forced.stderr);
        assert.match(forced.stderr, /FORCE=1: the target database has \d+ user tables and will be replaced/);
        assert.equal(target.psql("app_rls", "SELECT count(*) FROM pg_tables WHERE tablename = 'stray'"), "0");
        assert.equal(target.psql("app_rls", "SELECT count(*) FROM pg_class WHERE relrowsecurity"), "0", "RLS=disable this time");
        const verify = await runPgMigrate(["verify"], env({ TARGET_DATABASE_URL: target.url("app_rls") }));
        assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    });

    test("a client older than the source's major version gives a clear error", async () => {
        // Simulated: a pg_dump on PATH that reports major 14 (only 15 is installed here).
        // pg-migrate compares it with the server's server_version_num before dumping.
        const fakeBin = join(root, "old-client-bin");
        mkdirSync(fakeBin, { recursive: true });
        writeFileSync(
            join(fakeBin, "pg_dump"),
            '#!/bin/sh\nif [ "$1" = --version ]; then echo "pg_dump (PostgreSQL) 14.13"; exit 0; fi\necho "old pg_dump must not run" >&2; exit 99\n',
            { mode: 0o755 },
        );
        const result = await runPgMigrate(["dump"], env({ DUMP_DIR: join(root, "dump-old-client") }), `${fakeBin}:${process.env.PATH}`);
        assert.equal(result.status, 2);
        assert.match(
            result.stderr,
            /pg_dump is version 14 but the database of SOURCE_DATABASE_URL runs PostgreSQL 15: use the client tools of PostgreSQL 15 or newer \(e\.g\. run pg-migrate inside the postgres:15 image\)/,
        );
        assert.doesNotMatch(result.stderr, /must not run/);
    });

    test("fingerprint settings: bad ones are refused with exit 2 naming the setting, and so is a user that is no superuser", async () => {
        const badName = /RESTORE_POINT must be 1 to 63 of a-z, 0-9, _ and -, the first a letter or digit/;
        const badTimeout = /LOCK_TIMEOUT_MS must be a whole number of milliseconds from 1 to 600000/;
        const cases: [Record<string, string>, RegExp][] = [
            [{ RESTORE_POINT: "Drill" }, badName],
            [{ RESTORE_POINT: "-drill" }, badName],
            [{ RESTORE_POINT: "drill'); SELECT pg_sleep(1); --" }, badName],
            [{ RESTORE_POINT: "a".repeat(64) }, badName],
            [{ RESTORE_POINT: "" }, badName],
            [{ LOCK_TIMEOUT_MS: "0" }, badTimeout],
            [{ LOCK_TIMEOUT_MS: "600001" }, badTimeout],
            [{ LOCK_TIMEOUT_MS: "30s" }, badTimeout],
            [{ LOCK_TIMEOUT_MS: "" }, badTimeout],
            [{ RESTORE_POINT: "drill", RESTORE_POINT_LSN_FILE: "" }, /RESTORE_POINT_LSN_FILE is empty/],
            [{ RESTORE_POINT_LSN_FILE: join(root, "never.lsn") }, /RESTORE_POINT_LSN_FILE is set but RESTORE_POINT is not/],
        ];
        for (const [settings, message] of cases) {
            for (const subcommand of ["fingerprint", "check-settings"]) {
                const result = await runPgMigrate([subcommand], { SOURCE_DATABASE_URL: source.url("app"), ...settings });
                assert.equal(result.status, 2, `${subcommand} ${JSON.stringify(settings)}: ${result.stderr}`);
                assert.match(result.stderr, message);
                assert.equal(result.stdout, "");
            }
        }
        const unwritable = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: source.url("app"), RESTORE_POINT: "drill", RESTORE_POINT_LSN_FILE: join(root, "no-such-dir", "drill.lsn") });
        assert.equal(unwritable.status, 2, unwritable.stderr);
        assert.match(unwritable.stderr, /RESTORE_POINT_LSN_FILE \(.*no-such-dir\/drill\.lsn\) cannot be written: its directory must exist and be writable/);
        const good: Record<string, string>[] = [{ RESTORE_POINT: "a" }, { RESTORE_POINT: `0${"a".repeat(62)}` }, { RESTORE_POINT: "drill_2024-06-01", LOCK_TIMEOUT_MS: "1" }, { LOCK_TIMEOUT_MS: "600000" }];
        for (const settings of good) {
            const result = await runPgMigrate(["check-settings"], { SOURCE_DATABASE_URL: source.url("app"), ...settings });
            assert.equal(result.status, 0, `${JSON.stringify(settings)}: ${result.stderr}`);
        }
        // A user that may not create restore points (nor lock pg_class) is told so.
        const notSuper = await runPgMigrate(["fingerprint"], {
            SOURCE_DATABASE_URL: `postgresql://${appRole}:${appRolePassword}@127.0.0.1:${target.port}/app`,
            RESTORE_POINT: "drill",
        });
        assert.equal(notSuper.status, 2, notSuper.stderr);
        assert.match(notSuper.stderr, new RegExp(`RESTORE_POINT: the user of SOURCE_DATABASE_URL \\(${appRole}\\) is not a superuser`));
        assert.equal(notSuper.stdout, "");
    });

    test("fingerprint with RESTORE_POINT: a long transaction on a table makes it fail after LOCK_TIMEOUT_MS, without holding up writers", async () => {
        const lsnFile = join(root, "timeout.lsn");
        const longTransaction = psqlAsync(source.port, "app", "BEGIN; UPDATE public.messages SET body = body WHERE id = (SELECT id FROM public.messages ORDER BY id LIMIT 1); SELECT pg_sleep(600); COMMIT");
        await waitFor(() => source.psql("app", "SELECT count(*) FROM pg_locks WHERE relation = 'public.messages'::regclass AND mode = 'RowExclusiveLock' AND granted") === "1");
        const writes: Promise<RunResult>[] = [];
        const writer = setInterval(() => writes.push(psqlAsync(source.port, "app", "SET lock_timeout = 200; UPDATE public.events SET score = score WHERE id = 1")), 50);
        let result;
        try {
            result = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: source.url("app"), RESTORE_POINT: "drill-timeout", LOCK_TIMEOUT_MS: "800", RESTORE_POINT_LSN_FILE: lsnFile });
        } finally {
            clearInterval(writer);
            // The long transaction holds its lock until pg-migrate has given up, however slow the machine.
            source.psql("app", "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()");
        }
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /no restore point was made: for LOCK_TIMEOUT_MS \(800 ms\) there was no moment when the tables in public \(and pg_class\) could be locked/);
        assert.match(result.stderr, /the last: could not obtain lock on relation "public\.messages"/);
        assert.equal(result.stdout, "");
        assert.ok(!existsSync(lsnFile), "no LSN file without a restore point");
        // Each write of a table locked on every try (before public.messages) went through meanwhile:
        // with lock_timeout 200 ms it would have failed had it queued behind a waiting lock.
        for (const write of await Promise.all(writes)) assert.equal(write.status, 0, write.stderr);
        assert.ok(writes.length >= 10, `only ${writes.length} writes`);
        assert.match((await longTransaction).stderr, /canceling statement due to user request/);
    });

    test("a wrong password gives a clear error without the secret", async () => {
        const wrongSecret = "Wr0ng-S3cret-Value";
        const result = await runPgMigrate(["audit"], env({ SOURCE_DATABASE_URL: `postgresql://postgres:${wrongSecret}@127.0.0.1:${source.port}/app` }));
        assert.equal(result.status, 2);
        assert.match(result.stderr, /cannot connect to the database of SOURCE_DATABASE_URL: .*password authentication failed/);
        assert.ok(!(result.stdout + result.stderr).includes(wrongSecret));
    });
});

// A cluster that archives its WAL, an app writing continuously (and refreshing a materialized
// view), and a real point-in-time recovery to the restore point that fingerprint made.
describe("pg-migrate fingerprint while a writer commits, and RESTORE_POINT against a point-in-time recovery", { concurrency: false }, () => {
    let root: string;
    let archive: string;
    let primary: Cluster;
    let recovered: Cluster | undefined;
    const restorePoint = "drill_pitr-1";

    before(() => {
        root = scratchDir("pg-migrate-pitr-test-");
        archive = join(root, "wal-archive");
        mkdirSync(archive);
        ownedByPostgres(archive);
        primary = startCluster(join(root, "primary"));
        primary = restartWithConfig(primary, ["archive_mode = on", `archive_command = 'cp %p ${archive}/%f'`]);
        primary.psql("postgres", "CREATE DATABASE drill");
        primary.psql(
            "drill",
            `CREATE TABLE public.ticks (id bigint PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp(), payload text NOT NULL);
             CREATE TABLE public.ticks_mirror (LIKE public.ticks INCLUDING ALL);
             CREATE TABLE public.counters (name text PRIMARY KEY, n bigint NOT NULL);
             INSERT INTO public.counters VALUES ('ticks', 0);
             CREATE TABLE public.stop (at timestamptz);
             CREATE UNLOGGED TABLE public.scratch (id bigint);
             CREATE SEQUENCE public.tick_seq;
             CREATE TABLE public.rewritten (id int);
             CREATE MATERIALIZED VIEW public.tick_summary AS SELECT 1 AS one, count(*) AS n, max(id) AS last FROM public.ticks;
             CREATE UNIQUE INDEX ON public.tick_summary (one);`,
        );
    });

    after(() => {
        recovered?.stop();
        primary?.stop();
        if (root) removeDir(root);
    });

    /** One session commits a row into ticks and ticks_mirror, bumps counters and writes the unlogged
     *  table, about a thousand times a second; another refreshes tick_summary (CONCURRENTLY: a plain
     *  REFRESH rewrites the view, which fails a fingerprint that started just before); until stopWorkload. */
    function startWorkload(): Promise<RunResult>[] {
        primary.psql("drill", "DELETE FROM public.stop");
        const loop = (body: string, pause: string) =>
            psqlAsync(
                primary.port,
                "drill",
                `DO $$ DECLARE i bigint; deadline timestamptz := clock_timestamp() + interval '120 seconds'; BEGIN
                     LOOP
                         ${body}
                         COMMIT;
                         EXIT WHEN EXISTS (SELECT 1 FROM public.stop) OR clock_timestamp() > deadline;
                         PERFORM pg_sleep(${pause});
                     END LOOP;
                 END $$`,
            );
        return [
            loop(
                `i := nextval('public.tick_seq');
                 INSERT INTO public.ticks (id, payload) VALUES (i, md5(i::text));
                 INSERT INTO public.ticks_mirror (id, payload) VALUES (i, md5(i::text));
                 UPDATE public.counters SET n = n + 1 WHERE name = 'ticks';
                 INSERT INTO public.scratch VALUES (i);`,
                "0.001",
            ),
            loop("REFRESH MATERIALIZED VIEW CONCURRENTLY public.tick_summary;", "0.01"),
        ];
    }

    async function stopWorkload(workload: Promise<RunResult>[]): Promise<void> {
        primary.psql("drill", "INSERT INTO public.stop VALUES (now())");
        for (const session of await Promise.all(workload)) assert.equal(session.status, 0, session.stderr);
    }

    const ticks = () => Number(primary.psql("drill", "SELECT count(*) FROM public.ticks"));

    test("without RESTORE_POINT every session reads one snapshot: ticks and its mirror, counted apart, agree", async () => {
        const workload = startWorkload();
        try {
            const start = ticks();
            await waitFor(() => ticks() > start + 100);
            for (let run = 0; run < 3; run++) {
                // JOBS above the number of tables: every table is counted by a session of its own.
                const result = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: primary.url("drill"), JOBS: "8" });
                assert.equal(result.status, 0, result.stderr);
                const rows = fingerprintRows(result.stdout);
                assert.deepEqual([...rows.keys()], ["public.counters", "public.rewritten", "public.stop", "public.tick_summary", "public.ticks", "public.ticks_mirror"]);
                assert.ok(rows.get("public.ticks")! > start, result.stdout);
                assert.equal(rows.get("public.ticks_mirror"), rows.get("public.ticks"), result.stdout);
                assert.match(result.stderr, /left out, as unlogged tables \(a physical backup holds none of their rows\): public\.scratch/);
            }
        } finally {
            await stopWorkload(workload);
        }
    });

    test("a table rewritten after the snapshot (here TRUNCATE) fails the fingerprint, never makes a wrong one", async () => {
        primary.psql("drill", "INSERT INTO public.rewritten SELECT generate_series(1, 10)");
        // Holds ACCESS EXCLUSIVE until it commits, 1.5 s later: the snapshot still sees the 10 rows,
        // the sessions get their lock on the table only once the truncation committed.
        const truncate = psqlAsync(primary.port, "drill", "BEGIN; TRUNCATE public.rewritten; SELECT pg_sleep(1.5); COMMIT");
        await waitFor(() => primary.psql("drill", "SELECT count(*) FROM pg_locks WHERE relation = 'public.rewritten'::regclass AND mode = 'AccessExclusiveLock' AND granted") === "1");
        const result = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: primary.url("drill") });
        assert.equal((await truncate).status, 0);
        assert.equal(result.status, 1, result.stderr);
        assert.match(result.stderr, /public\.rewritten was rewritten \(TRUNCATE, REFRESH MATERIALIZED VIEW, VACUUM FULL or ALTER TABLE\) after the snapshot was taken: run the fingerprint again/);
        assert.equal(result.stdout, "");
        const again = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: primary.url("drill") });
        assert.equal(again.status, 0, again.stderr);
        assert.equal(fingerprintRows(again.stdout).get("public.rewritten"), 0);
    });

    test("RESTORE_POINT is not made while a commit is in the WAL but not yet visible (it waits for a synchronous standby)", async () => {
        // Such a commit would be replayed by a recovery to the restore point, yet the snapshot does not see it.
        const syncStandby = (names: string) => {
            primary.psql("postgres", `ALTER SYSTEM SET synchronous_standby_names = '${names}'`);
            primary.psql("postgres", "SELECT pg_reload_conf()");
        };
        const cases: [string, RegExp][] = [
            ["INSERT INTO public.ticks (id, payload) VALUES (-1, 'stuck')", /the last: could not obtain lock on relation "public\.ticks"/],
            ["REFRESH MATERIALIZED VIEW CONCURRENTLY public.tick_summary", /the last: materialized view public\.tick_summary is being refreshed/],
        ];
        try {
            for (const [write, reason] of cases) {
                syncStandby("nobody");
                const stuck = psqlAsync(primary.port, "drill", write);
                await waitFor(() => primary.psql("drill", "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'") === "1");
                const result = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: primary.url("drill"), RESTORE_POINT: "drill-stuck", LOCK_TIMEOUT_MS: "500" });
                syncStandby("");
                assert.equal((await stuck).status, 0);
                assert.equal(result.status, 1, `${write}: ${result.stderr}`);
                assert.match(result.stderr, /no restore point was made/);
                assert.match(result.stderr, reason);
            }
        } finally {
            syncStandby("");
            primary.psql("drill", "DELETE FROM public.ticks WHERE id = -1");
        }
    });

    test("RESTORE_POINT: the fingerprint equals that of a point-in-time recovery to the restore point, while a writer commits", async (t) => {
        const lsnFile = join(root, "restore-point.lsn");
        const dataDir = join(root, "recovered", "data");
        const workload = startWorkload();
        let live: RunResult;
        let atBackup: number;
        try {
            const start = ticks();
            await waitFor(() => ticks() > start + 100);
            baseBackup(primary, dataDir);
            atBackup = ticks();
            await waitFor(() => ticks() > atBackup + 100);
            live = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: primary.url("drill"), RESTORE_POINT: restorePoint, RESTORE_POINT_LSN_FILE: lsnFile, JOBS: "3" });
            const afterRestorePoint = ticks();
            await waitFor(() => ticks() > afterRestorePoint + 100);
        } finally {
            await stopWorkload(workload);
        }
        assert.equal(live.status, 0, live.stderr);
        const lsn = readFileSync(lsnFile, "utf8").trim();
        assert.match(lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
        assert.match(live.stderr, new RegExp(`restore point '${restorePoint}' created at LSN ${lsn} \\(locks taken at try \\d+, after \\d+ ms\\)\\n`));
        const paused = /writers of public were paused for (\d+) ms/.exec(live.stderr);
        assert.ok(paused, live.stderr);
        t.diagnostic(`writers paused ${paused[1]} ms; ${live.stderr.match(/locks taken at try \d+, after \d+ ms/)?.[0]}`);

        // The WAL up to the restore point reaches the archive; the base backup recovers to it.
        const walFile = primary.psql("drill", `SELECT pg_walfile_name('${lsn}')`);
        primary.psql("drill", "SELECT pg_switch_wal()");
        await waitFor(() => existsSync(join(archive, walFile)));
        appendFileSync(
            join(dataDir, "postgresql.conf"),
            ["archive_mode = off", `restore_command = 'cp ${archive}/%f %p'`, `recovery_target_name = '${restorePoint}'`, "recovery_target_action = 'promote'"]
                .map((line) => `${line}\n`)
                .join(""),
        );
        writeFileSync(join(dataDir, "recovery.signal"), "");
        ownedByPostgres(join(root, "recovered"));
        recovered = startCluster(join(root, "recovered"));
        const server = recovered;
        await waitFor(() => server.psql("postgres", "SELECT pg_is_in_recovery()") === "f", 60_000);
        assert.match(readFileSync(join(root, "recovered", "server.log"), "utf8"), new RegExp(`recovery stopping at restore point "${restorePoint}"`));

        const fromBackup = await runPgMigrate(["fingerprint"], { SOURCE_DATABASE_URL: recovered.url("drill") });
        assert.equal(fromBackup.status, 0, fromBackup.stderr);
        assert.equal(fromBackup.stdout, live.stdout);
        // The writer committed between the base backup and the restore point, and after it.
        const atRestorePoint = fingerprintRows(live.stdout).get("public.ticks")!;
        assert.ok(atBackup < atRestorePoint && atRestorePoint < ticks(), `${atBackup} < ${atRestorePoint} < ${ticks()}`);
    });
});
