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
    openSession,
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

    test("a copied table whose table-sync slot is gone (PostgreSQL 15's race) fails sync naming the table and what to do, instead of waiting forever", { timeout: 180_000 }, async () => {
        const synced = await runPgMigrate(["sync"], env());
        assert.equal(synced.status, 0, synced.stdout + synced.stderr);
        // The state the race leaves: the table recorded as copied ('f'), its own slot on the
        // source already dropped. Its table-sync worker then retries a slot that does not exist.
        target.psql("app", "ALTER SUBSCRIPTION pg_migrate DISABLE");
        target.psql("app", "UPDATE pg_subscription_rel SET srsubstate = 'f' WHERE srrelid = 'public.messages'::regclass");
        target.psql("app", "ALTER SUBSCRIPTION pg_migrate ENABLE");
        const stuck = await runPgMigrate(["sync"], env());
        assert.equal(stuck.status, 1, stuck.stdout + stuck.stderr);
        assert.match(stuck.stderr, /table public\.messages was copied but its table-sync slot is gone from the source .* Run abort .* then sync again/);
        const abort = await runPgMigrate(["abort"], env());
        assert.equal(abort.status, 0, abort.stdout + abort.stderr);
        assert.equal(sourceReplicationObjects(), "0 slots, supabase_realtime");
    });

    test("sync, faults, status, cutover under a live writer: no acknowledged write lost, sequences ahead, verify passes", async () => {
        const writer = new LiveWriter(sourceWriter());
        writer.start();
        try {
            // sync, with the source restarted and the apply worker killed while it copies.
            const sync = runPgMigrate(["sync"], env());
            await waitFor(() => target.psql("app", "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate IN ('i', 'd')") !== "0");
            restartInPlace(source);
            // Until one is killed: a worker seen may be one the restart is ending by itself.
            await waitFor(
                () => target.psql("app", "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'logical replication worker'") !== "0",
            );
            let synced = await sync;
            if (synced.status !== 0 && /was copied but its table-sync slot is gone/.test(synced.stderr)) {
                // Killing the workers can land in PostgreSQL 15's race (the test above): sync
                // says so and the way back is abort, then sync again, as its message says.
                const abort = await runPgMigrate(["abort"], env());
                assert.equal(abort.status, 0, abort.stdout + abort.stderr);
                synced = await runPgMigrate(["sync"], env());
            }
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

            // The verify around the freeze: every table before it, in it only what was written since.
            const projectId = source.psql("app", "SELECT min(id) FROM public.projects");
            const setTargetName = (name: string) => target.psql("app", `UPDATE public.projects SET name = $n$${name}$n$ WHERE id = ${projectId}`);
            const sourceName = () => source.psql("app", `SELECT name FROM public.projects WHERE id = ${projectId}`);
            const verifySlots = () => source.psql("app", "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'pg_migrate_verify'");
            const frozen = () => source.psql("app", `SELECT count(*) FROM pg_db_role_setting WHERE setrole = '${writerRole}'::regrole`);

            // A target that differs before cutover, in a table nobody writes on the source: refused before any freeze.
            setTargetName(`${sourceName()} (diverged)`);
            const early = await runPgMigrate(["cutover"], env());
            assert.equal(early.status, 4, early.stdout + early.stderr);
            assert.match(early.stderr, /cutover refused: the target differs from the source in public\.projects \(.*\); nothing was frozen/);
            assert.doesNotMatch(early.stdout, /freeze start/);
            assert.equal(frozen(), "0", "nothing frozen");
            assert.equal(verifySlots(), "0", "the pre-freeze verify's slot is gone");
            setTargetName(sourceName());

            // The target written after the pre-freeze verify (a transaction open before it, committed in
            // the freeze): cutover waits for it, checks the table again and refuses.
            const rogue = openSession(target.port, "app");
            rogue.send(`BEGIN; UPDATE public.projects SET name = name || ' (diverged)' WHERE id = ${projectId};`);
            await waitFor(() => target.psql("app", "SELECT count(*) FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND state = 'idle in transaction'") === "1");
            const late = runPgMigrate(["cutover"], env());
            await waitFor(() => frozen() === "1", 120_000);
            rogue.send("COMMIT;");
            await rogue.end();
            const lateTarget = await late;
            assert.equal(lateTarget.status, 4, lateTarget.stdout + lateTarget.stderr);
            assert.match(lateTarget.stdout, /freeze start/);
            assert.match(lateTarget.stderr, /checked again in the freeze: public\.projects \(written on the target, not by the subscription\)/);
            assert.match(lateTarget.stderr, /verify: MISMATCH in tables: public\.projects$/m);
            assert.equal(verifySlots(), "0");
            setTargetName(sourceName());

            // The source written after the pre-freeze verify, a change the target's apply drops (a row
            // trigger that fires for the subscription): checked again in the freeze, refused. The slot
            // waits for an open source transaction, the target's checksums for a REFRESH of the view
            // (rolled back): the UPDATE comes after the slot's snapshot and before the freeze.
            for (const [cluster, body] of [
                [source, "RETURN NEW;"],
                [target, "IF NEW.name LIKE '%(lost on the target)' THEN RETURN NULL; END IF; RETURN NEW;"],
            ] as const) {
                cluster.psql(
                    "app",
                    `CREATE SCHEMA test_faults; CREATE FUNCTION test_faults.lose_marked() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN ${body} END $f$;
                     CREATE TRIGGER lose_marked BEFORE UPDATE ON public.projects FOR EACH ROW EXECUTE FUNCTION test_faults.lose_marked()`,
                );
            }
            target.psql("app", "ALTER TABLE public.projects ENABLE ALWAYS TRIGGER lose_marked");
            const openOnSource = openSession(source.port, "app");
            openOnSource.send("BEGIN; SELECT pg_current_xact_id();");
            const sourceWritten = runPgMigrate(["cutover"], env());
            await waitFor(() => verifySlots() === "1", 120_000);
            const viewLock = openSession(target.port, "app");
            viewLock.send("BEGIN; REFRESH MATERIALIZED VIEW public.event_counts;");
            await waitFor(() => target.psql("app", "SELECT count(*) FROM pg_locks WHERE relation = 'public.event_counts'::regclass AND mode = 'AccessExclusiveLock' AND granted") === "1");
            openOnSource.send("COMMIT;");
            await openOnSource.end();
            await waitFor(() => source.psql("app", "SELECT confirmed_flush_lsn IS NOT NULL FROM pg_replication_slots WHERE slot_name = 'pg_migrate_verify'") === "t");
            source.psql("app", `UPDATE public.projects SET name = name || ' (lost on the target)' WHERE id = ${projectId}`);
            viewLock.send("ROLLBACK;");
            await viewLock.end();
            const lost = await sourceWritten;
            assert.equal(lost.status, 4, lost.stdout + lost.stderr);
            assert.match(lost.stdout, /freeze start/);
            assert.match(lost.stderr, /checked again in the freeze: public\.projects \(written on the source\)/);
            assert.match(lost.stderr, /verify: MISMATCH in tables: public\.projects$/m);
            for (const cluster of [source, target]) cluster.psql("app", "DROP SCHEMA test_faults CASCADE");
            setTargetName(sourceName());

            const cutover = await runPgMigrate(["cutover"], env());
            assert.equal(cutover.status, 0, cutover.stdout + cutover.stderr);
            writer.switchTo(targetWriter());
            assert.match(cutover.stdout, /freeze start: \d{4}-\d\d-\d\dT[\d:.]+Z/);
            assert.match(cutover.stdout, /freeze end: \d{4}-\d\d-\d\dT[\d:.]+Z/);
            assert.match(cutover.stdout, /freeze length: [\d.]+s/);
            assert.match(cutover.stdout, /verify: OK/);
            // The big table, written by nobody since the pre-freeze verify, is not read again in the freeze.
            assert.match(cutover.stderr, /pre-freeze verify: \d+ tables' counts and checksums compared/);
            assert.match(cutover.stdout, /^public\.events +300000 +300000 unchanged +ok +ok$/m);
            assert.doesNotMatch(cutover.stderr, /checked again in the freeze: public\.events /);
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
        assert.equal(target.psql("app", "SELECT count(*) FROM pg_namespace WHERE nspname = '_pg_migrate'"), "0", "the change triggers are gone");
        assert.equal(target.psql("postgres", "SELECT count(*) FROM pg_database WHERE datname LIKE 'app_pgmigrate%'"), "0");
        // The source stays frozen for the app's role until someone decides otherwise (abort).
        assert.throws(
            () => psql(source.port, "app", "INSERT INTO public.live_writes (value) VALUES (-1)", writerRole, writerPassword),
            /read-only transaction/,
        );
        assert.ok(!existsSync(join(root, "pg_migrate_replication.prom.tmp")));
    });
});
