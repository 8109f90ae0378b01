// pg-migrate's MODE=replicate against real PostgreSQL 15 clusters: a Supabase-shaped source
// with wal_level=logical that a live writer keeps writing to through sync, faults and cutover.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { addLiveWriterTable, LiveWriter, lostWrites, type WriterTarget } from "./live-writer";
import {
    type Cluster,
    psql,
    restartInPlace,
    restartWithConfig,
    runPgMigrate,
    scratchDir,
    startCluster,
    waitFor,
    loadSupabaseFixture,
    createAppDatabase,
    removeClusters,
} from "./pg-migrate.harness";

const eventRows = 300_000;
const appRole = "app_user";
const appRolePassword = "app-role-password-for-tests";
/** The role the app writes to the source as: cutover freezes it. */
const writerRole = "app_writer";
const writerPassword = "writer-password-for-tests";

describe("pg-migrate MODE=replicate on real PostgreSQL 15", { concurrency: false }, () => {
    let root: string;
    let source: Cluster;
    let target: Cluster;
    const env = (extra: Record<string, string> = {}): Record<string, string> => ({
        SOURCE_DATABASE_URL: source.url("app"),
        TARGET_DATABASE_URL: target.url("app"),
        APP_ROLE: appRole,
        MODE: "replicate",
        FREEZE_ROLES: writerRole,
        PROGRESS_INTERVAL: "1",
        JOBS: "2",
        ...extra,
    });
    const sourceWriter = (): WriterTarget => ({ port: source.port, database: "app", user: writerRole, password: writerPassword });
    const targetWriter = (): WriterTarget => ({ port: target.port, database: "app", user: appRole, password: appRolePassword });
    const sourceReplicationObjects = () =>
        source.psql(
            "app",
            "SELECT (SELECT count(*) FROM pg_replication_slots) || ' slots, ' || (SELECT string_agg(pubname, ',' ORDER BY pubname) FROM pg_publication)",
        );
    const targetTables = () => target.psql("app", "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");

    before(() => {
        root = scratchDir("pg-migrate-replicate-");
        source = restartWithConfig(startCluster(join(root, "source")), ["wal_level = logical", "max_slot_wal_keep_size = 1GB"]);
        target = startCluster(join(root, "target"));
        loadSupabaseFixture(source, eventRows);
        addLiveWriterTable(source, writerRole, writerPassword);
        createAppDatabase(target, appRole, appRolePassword);
    });

    after(() => removeClusters(root, source, target));

    test("audit refuses a table without primary key or REPLICA IDENTITY, by name, and passes once it has one", async () => {
        const refused = await runPgMigrate(["audit"], env());
        assert.equal(refused.status, 2, refused.stderr);
        assert.match(refused.stderr, /table public\.audit_log has neither a primary key nor a REPLICA IDENTITY/);
        assert.doesNotMatch(refused.stderr, /table public\.(events|projects|live_writes) has/);
        source.psql("app", "ALTER TABLE public.audit_log REPLICA IDENTITY FULL");
        const passed = await runPgMigrate(["audit"], env());
        assert.equal(passed.status, 0, passed.stderr);
        assert.match(passed.stdout, /replicate: the source can be replicated from/);
    });

    test("abort during sync leaves no slot and no publication on the source and the target as it was", async () => {
        const before = { source: sourceReplicationObjects(), targetTables: targetTables() };
        assert.equal(before.source, "0 slots, supabase_realtime");
        const sync = runPgMigrate(["sync"], env());
        await waitFor(() => target.psql("app", "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") !== "0");
        const abort = await runPgMigrate(["abort"], env());
        assert.equal(abort.status, 0, abort.stdout + abort.stderr);
        assert.match(abort.stdout, /pg-migrate report: phase=abort duration=[\d.]+s/);
        const syncResult = await sync;
        assert.notEqual(syncResult.status, 0, "sync cannot succeed once its subscription was aborted");
        assert.equal(sourceReplicationObjects(), "0 slots, supabase_realtime");
        assert.equal(targetTables(), before.targetTables);
        assert.equal(target.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'app_pgmigrate%'"), "0");
        assert.equal(source.psql("app", "SELECT count(*) FROM public.events"), String(eventRows), "the source lost nothing");
    });

    test("a slot that lost its WAL (max_slot_wal_keep_size passed) is reported with what to do, and abort cleans up", async () => {
        const synced = await runPgMigrate(["sync"], env());
        assert.equal(synced.status, 0, synced.stdout + synced.stderr);
        // The subscriber stops confirming while the source writes more WAL than the slot may keep.
        target.psql("app", "ALTER SUBSCRIPTION pg_migrate DISABLE");
        source.psql("postgres", "ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'");
        source.psql("postgres", "SELECT pg_reload_conf()");
        source.psql("postgres", "CREATE TABLE wal_filler AS SELECT g, md5(g::text) AS m FROM generate_series(1, 600000) AS g");
        source.psql("postgres", "SELECT pg_switch_wal(); CHECKPOINT; SELECT pg_switch_wal(); CHECKPOINT");
        await waitFor(() => source.psql("app", "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'pg_migrate'") === "lost");
        const status = await runPgMigrate(["status"], env({ METRICS_DIR: root }));
        assert.equal(status.status, 1, status.stdout + status.stderr);
        assert.match(status.stdout, /slot +lost/);
        assert.match(status.stderr, /the replication slot pg_migrate on the source is LOST: .* Run abort .*raise max_slot_wal_keep_size/);
        assert.match(readFileSync(join(root, "pg_migrate_replication.prom"), "utf8"), /^pg_migrate_slot_lost 1$/m);
        const cutover = await runPgMigrate(["cutover"], env());
        assert.equal(cutover.status, 1, cutover.stderr);
        assert.match(cutover.stderr, /is LOST/);
        assert.doesNotMatch(cutover.stdout, /freeze start/);
        const abort = await runPgMigrate(["abort"], env());
        assert.equal(abort.status, 0, abort.stdout + abort.stderr);
        assert.equal(sourceReplicationObjects(), "0 slots, supabase_realtime");
        source.psql("postgres", "DROP TABLE wal_filler");
        source.psql("postgres", "ALTER SYSTEM RESET max_slot_wal_keep_size");
        source.psql("postgres", "SELECT pg_reload_conf()");
    });

    test("sync, faults, status, cutover under a live writer: no acknowledged write lost, sequences ahead, verify passes", async () => {
        const writer = new LiveWriter(sourceWriter());
        writer.start();
        try {
            // sync, with the source restarted and the apply worker killed while it copies.
            const sync = runPgMigrate(["sync"], env());
            await waitFor(() => target.psql("app", "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate IN ('i', 'd')") !== "0");
            restartInPlace(source);
            await waitFor(() => target.psql("app", "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'logical replication worker'") !== "0");
            const killed = target.psql(
                "app",
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'logical replication worker'",
            );
            assert.notEqual(killed, "0", "a logical replication worker was running to be killed");
            const synced = await sync;
            assert.equal(synced.status, 0, synced.stdout + synced.stderr);
            assert.match(synced.stderr, /sync: \d+\/\d+ tables ready, .* lag \S+ bytes/);
            assert.match(synced.stdout, /pg-migrate report: phase=sync duration=[\d.]+s bytes=\d+ lag_bytes=\d+ freeze=-/);
            assert.match(source.psql("app", "SELECT string_agg(pubname, ',' ORDER BY pubname) FROM pg_publication"), /^pg_migrate,supabase_realtime$/);
            assert.equal(
                source.psql("app", "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'pg_migrate' AND schemaname <> 'public'"),
                "0",
                "the publication covers the app schema only",
            );

            // status: printed, and exported for the textfile collector.
            const status = await runPgMigrate(["status"], env({ METRICS_DIR: root }));
            assert.equal(status.status, 0, status.stderr);
            assert.match(status.stdout, /lag +\d+ bytes, [\d.]+ s/);
            assert.match(status.stdout, /public\.events +ready/);
            assert.match(status.stdout, /slot +reserved, retains \d+ bytes of WAL; the source's max_slot_wal_keep_size: 1073741824 bytes/);
            const metrics = readFileSync(join(root, "pg_migrate_replication.prom"), "utf8");
            assert.match(metrics, /^pg_migrate_replication_lag_bytes \d+$/m);
            assert.match(metrics, /^pg_migrate_slot_lost 0$/m);

            // cutover refused while the lag is above its threshold (the subscriber paused: the lag grows).
            target.psql("app", "ALTER SUBSCRIPTION pg_migrate DISABLE");
            // WAL the paused slot must keep, however slowly the live writer gets through on a busy machine
            // (another database of the same cluster: nothing replicated, nothing verified changes).
            source.psql("postgres", "CREATE TABLE lag_filler AS SELECT repeat('x', 1000) AS pad FROM generate_series(1, 500)");
            await waitFor(() => source.psql("app", "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) > 100000 FROM pg_replication_slots WHERE slot_name = 'pg_migrate'") === "t");
            const refused = await runPgMigrate(["cutover"], env({ CUTOVER_MAX_LAG_BYTES: "100000" }));
            assert.equal(refused.status, 3, refused.stderr);
            assert.match(refused.stderr, /cutover refused: the lag is \d+ bytes, above CUTOVER_MAX_LAG_BYTES \(100000\)/);
            assert.doesNotMatch(refused.stdout, /freeze start/);
            assert.equal(source.psql("app", `SELECT count(*) FROM pg_db_role_setting WHERE setrole = '${writerRole}'::regrole`), "0", "nothing frozen");
            target.psql("app", "ALTER SUBSCRIPTION pg_migrate ENABLE");
            await sleep(2000);

            // A row written with an explicit id beyond its sequence: the target's sequence must pass it.
            source.psql("app", "INSERT INTO public.live_writes (id, value) SELECT last_value + 100000, 0 FROM public.live_writes_id_seq");
            const cutover = await runPgMigrate(["cutover"], env());
            assert.equal(cutover.status, 0, cutover.stdout + cutover.stderr);
            writer.switchTo(targetWriter());
            assert.match(cutover.stdout, /freeze start: \d{4}-\d\d-\d\dT[\d:.]+Z/);
            assert.match(cutover.stdout, /freeze end: \d{4}-\d\d-\d\dT[\d:.]+Z/);
            assert.match(cutover.stdout, /freeze length: [\d.]+s/);
            assert.match(cutover.stdout, /verify: OK/);
            assert.match(cutover.stdout, /pg-migrate report: phase=cutover duration=[\d.]+s bytes=\d+ lag_bytes=0 freeze=[\d.]+s/);
            await sleep(1500);
        } finally {
            await writer.stop();
        }
        const report = writer.report;
        assert.ok(report.acknowledged > 200, `the writer wrote through the run (${report.acknowledged} acknowledged)`);
        const summary = `acknowledged ${report.acknowledged}, failed ${report.failed}, uncertain ${report.uncertain.size}, longest gap ${report.longestGapMs} ms; errors: ${report.errorSamples.join(" / ")}`;
        assert.ok(report.failed > 0, `writes attempted during the freeze failed visibly (${summary})`);
        assert.ok(
            report.errorSamples.some((message) => /read-only transaction|terminating connection/.test(message)),
            report.errorSamples.join("\n"),
        );
        const targetRows = new Map(
            target
                .psql("app", "SELECT id, value FROM public.live_writes")
                .split("\n")
                .filter(Boolean)
                .map((line) => line.split("|") as [string, string])
                .map(([id, value]) => [id, Number(value)]),
        );
        assert.deepEqual(lostWrites(report, targetRows), [], "every acknowledged write is on the target");
        assert.ok(report.uncertain.size < 5, `few writes of unknown outcome (${report.uncertain.size})`);

        // Every sequence at or above its table's max id; nothing of the replication left.
        assert.equal(
            target.psql(
                "app",
                `SELECT string_agg(s.relname || ' ' || q.last_value || ' < ' || q.max_id, ', ')
                 FROM (VALUES ('live_writes_id_seq', (SELECT last_value FROM public.live_writes_id_seq), (SELECT max(id) FROM public.live_writes)),
                              ('events_id_seq', (SELECT last_value FROM public.events_id_seq), (SELECT max(id) FROM public.events)),
                              ('projects_id_seq', (SELECT last_value FROM public.projects_id_seq), (SELECT max(id) FROM public.projects))) AS q(name, last_value, max_id)
                 JOIN pg_class s ON s.relname = q.name WHERE q.last_value < q.max_id`,
            ),
            "",
        );
        assert.equal(sourceReplicationObjects(), "0 slots, supabase_realtime");
        assert.equal(target.psql("app", "SELECT count(*) FROM pg_subscription"), "0");
        assert.equal(target.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'app_pgmigrate%'"), "0");
        // The source stays frozen for the app's role until someone decides otherwise (abort).
        assert.throws(
            () => psql(source.port, "app", "INSERT INTO public.live_writes (value) VALUES (-1)", writerRole, writerPassword),
            /read-only transaction/,
        );
        assert.ok(!existsSync(join(root, "pg_migrate_replication.prom.tmp")));
    });
});
