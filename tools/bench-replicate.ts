// Benchmark of migrationMode replicate against dump: the write freeze the app sees, at a
// source size set by --size-mb (about 1 GB and 4 GB are the two points). On two
// throwaway PostgreSQL 15 clusters on this machine (the source with wal_level=logical, the
// Supabase-shaped fixture grown to the size), in one run:
//   replicate  a live writer (inserts, updates, deletes; each acknowledgement recorded)
//              writes to the source through pg-migrate sync and cutover, then to the target
//   dump       the same writer, the same freeze (the writer's role read-only, its sessions
//              ended) held through pg-migrate dump + restore + verify, then the target
// The freeze of each is the longest gap between two acknowledged writes; lost writes are
// acknowledged writes whose effect is not on the target. Prints both and the targets
// (freeze <= 10 s for replicate, 0 lost writes) as met or not met.
//   npm run bench:replicate -- [--size-mb 1024] [--keep]
// Not run in CI: it takes minutes and GBs of disk (about 5x the size: both clusters, the
// dump, the WAL).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { addLiveWriterTable, LiveWriter, lostWrites, type WriterReport, type WriterTarget } from "../components/migration/live-writer";
import {
    type Cluster,
    createAppDatabase,
    fixtureDir,
    pgMigrate,
    psqlFile,
    removeClusters,
    restartWithConfig,
    scratchDir,
    startCluster,
} from "../components/migration/pg-migrate.harness";

const FREEZE_TARGET_S = 10;
const writerRole = "app_writer";
const writerPassword = "bench-writer-password";
const appRole = "app_user";
const appPassword = "bench-app-password";

const { values } = parseArgs({ options: { "size-mb": { type: "string", default: "1024" }, keep: { type: "boolean", default: false } } });
const sizeMb = Number(values["size-mb"]);
if (!Number.isInteger(sizeMb) || sizeMb < 1) {
    console.error("bench-replicate: --size-mb must be a positive whole number");
    process.exit(2);
}
const log = (message: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${message}`);

/** Runs pg-migrate with its progress passed through; its stdout is returned (the report lines). */
function pgMigrateStep(args: string[], env: Record<string, string>): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn(pgMigrate, args, { env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", ...env }, stdio: ["ignore", "pipe", "inherit"] });
        let stdout = "";
        child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
        child.on("error", reject);
        child.on("close", (status) => (status === 0 ? resolve(stdout) : reject(new Error(`pg-migrate ${args.join(" ")} exited ${status}:\n${stdout}`))));
    });
}

function rowsOf(cluster: Cluster, database: string): Map<string, number> {
    const text = cluster.psql(database, "SELECT id, value FROM public.live_writes");
    return new Map(text.split("\n").filter(Boolean).map((line) => line.split("|")).map(([id, value]) => [id, Number(value)]));
}

interface Outcome {
    freezeS: number;
    lost: number;
    acknowledged: number;
    refused: number;
    reportLines: string[];
}

function outcome(report: WriterReport, target: Cluster, database: string, stdout: string): Outcome {
    return {
        freezeS: report.longestGapMs / 1000,
        lost: lostWrites(report, rowsOf(target, database)).length,
        acknowledged: report.acknowledged,
        refused: report.failed,
        reportLines: stdout.split("\n").filter((line) => line.startsWith("pg-migrate report:") || line.startsWith("freeze ")),
    };
}

async function main(): Promise<void> {
    const root = scratchDir("bench-replicate-");
    let source: Cluster | undefined;
    let target: Cluster | undefined;
    try {
        log(`starting source (wal_level=logical) and target clusters in ${root}`);
        source = restartWithConfig(startCluster(join(root, "source")), ["wal_level = logical", "max_slot_wal_keep_size = 8GB", "autovacuum = off"]);
        target = startCluster(join(root, "target"));
        const src = source;
        const tgt = target;
        src.psql("postgres", "CREATE DATABASE app");
        psqlFile(src.port, "app", join(fixtureDir, "supabase-source.sql"));
        const batch = 500_000;
        for (let first = 1; ; first += batch) {
            psqlFile(src.port, "app", join(fixtureDir, "events.sql"), { first: String(first), rows: String(batch) });
            const size = Number(src.psql("app", "SELECT pg_database_size('app') / 1048576"));
            log(`  source is ${size} MB (${first + batch - 1} event rows)`);
            if (size >= sizeMb) break;
        }
        src.psql("app", "ALTER TABLE public.audit_log REPLICA IDENTITY FULL");
        addLiveWriterTable(src, writerRole, writerPassword);
        src.psql("app", "VACUUM ANALYZE");
        createAppDatabase(tgt, appRole, appPassword);
        tgt.psql("postgres", `CREATE DATABASE dumped OWNER ${appRole}`);
        const sourceWriter: WriterTarget = { port: src.port, database: "app", user: writerRole, password: writerPassword };
        const targetWriter = (database: string): WriterTarget => ({ port: tgt.port, database, user: appRole, password: appPassword });
        const env = (database: string, extra: Record<string, string> = {}) => ({
            SOURCE_DATABASE_URL: src.url("app"),
            TARGET_DATABASE_URL: tgt.url(database),
            APP_ROLE: appRole,
            FREEZE_ROLES: writerRole,
            JOBS: "2",
            ...extra,
        });

        // --- replicate
        log("replicate: sync while the writer writes");
        let writer = new LiveWriter(sourceWriter);
        writer.start();
        let stdout = await pgMigrateStep(["sync"], env("app", { MODE: "replicate", PROGRESS_INTERVAL: "10" }));
        log("replicate: cutover");
        stdout += await pgMigrateStep(["cutover"], env("app", { MODE: "replicate" }));
        writer.switchTo(targetWriter("app"));
        await sleep(3000);
        const replicate = outcome(await writer.stop(), tgt, "app", stdout);
        // Printed at once: a dump run that fails (e.g. a full disk) must not lose it.
        const replicateLine = `  replicate: freeze ${replicate.freezeS.toFixed(1)} s (longest gap between acknowledged writes), ${replicate.lost} lost of ${replicate.acknowledged} acknowledged, ${replicate.refused} refused visibly`;
        log(replicateLine.trim());
        // The source writable again for the dump run: abort after a cutover only unfreezes.
        await pgMigrateStep(["abort"], env("app", { MODE: "replicate" }));

        // --- dump: the same freeze, held through dump + restore + verify
        log("dump: the writer writes, then the freeze, dump, restore, verify");
        writer = new LiveWriter(sourceWriter);
        writer.start();
        await sleep(3000);
        src.psql("app", `ALTER ROLE ${writerRole} IN DATABASE app SET default_transaction_read_only = on`);
        src.psql("app", `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = '${writerRole}'`);
        const dumpEnv = env("dumped", { DUMP_DIR: join(root, "dump") });
        stdout = "";
        const dumpStarted = Date.now();
        for (const step of ["dump", "restore", "verify"]) stdout += await pgMigrateStep([step], dumpEnv);
        const dumpSteps = (Date.now() - dumpStarted) / 1000;
        writer.switchTo(targetWriter("dumped"));
        await sleep(3000);
        const dump = outcome(await writer.stop(), tgt, "dumped", stdout);

        const size = src.psql("app", "SELECT pg_size_pretty(pg_database_size('app'))");
        const verdict = (met: boolean) => (met ? "met" : "NOT met");
        console.log(`\nbench:replicate, source ${size} (asked for ${sizeMb} MB)`);
        console.log(replicateLine);
        for (const line of replicate.reportLines) console.log(`    ${line}`);
        console.log(`  dump:      freeze ${dump.freezeS.toFixed(1)} s (dump + restore + verify took ${dumpSteps.toFixed(1)} s), ${dump.lost} lost of ${dump.acknowledged} acknowledged, ${dump.refused} refused visibly`);
        console.log(`  target: replicate's freeze <= ${FREEZE_TARGET_S} s: ${verdict(replicate.freezeS <= FREEZE_TARGET_S)}`);
        console.log(`  target: 0 lost writes: ${verdict(replicate.lost === 0 && dump.lost === 0)} (replicate ${replicate.lost}, dump ${dump.lost})`);
        console.log(`  replicate's freeze is ${(dump.freezeS / Math.max(replicate.freezeS, 0.001)).toFixed(0)}x shorter than dump's`);
    } finally {
        if (values.keep) log(`kept ${root}`);
        else removeClusters(root, source, target);
    }
}

main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
});
