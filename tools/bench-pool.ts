// bench:pool — load through the pooler, against issue 13's targets, on the running local
// stack (`bash tools/local-stack.sh up` first): its real Postgres and PgBouncer, configured
// as the stack generates them (pgbouncer.ini and the pool size are read from the running
// container, so they are what config gave). pgbench runs in a throw-away container on the
// stack's internal network, with the Postgres image's pgbench:
//   scripts: select-only (-S) and the TPC-B-like mix (pgbench's default);
//   clients: 50, 200 and 1,000, each through PgBouncer and straight to Postgres, in one run
//            (direct also at 10: a baseline that fits in any max_connections).
// Direct at 1,000 clients is expected to fail on max_connections: the bench reports it.
// Prints TPS, p95/p99 latency (from pgbench's per-transaction log), failed transactions,
// aborted clients and the CPU PgBouncer's container used (cgroup) per run, then each target as met or not met; exit status 1 when one is not:
//   1,000 clients through the pooler with 0 failed transactions;
//   pooled TPS at 1,000 clients >= 0.8x direct's best (per script);
//   p99 at 1,000 clients reported.
//   npm run bench:pool [-- --seconds 15 --scale 10]     (run it under the local VPS's lock)
import { POOLER_HOST } from "../components/pooler/pooler";
import { PGBOUNCER_PORT } from "../components/pooler/pgbouncer";
import { POSTGRES_HOST, POSTGRES_PORT } from "../components/postgres/postgres";
import { cgroupOf, docker, localContainer, requireRunning } from "./containers";

const CLIENTS = [50, 200, 1000] as const;
/** Direct also at 10 clients: what Postgres gives a few clients on 2 cores (the issue's baseline), and it fits in any max_connections. */
const DIRECT_BASELINE_CLIENTS = 10;
const SCRIPTS = { "select-only": ["-S"], "TPC-B-like": [] as string[] } as const;
const TARGET_RATIO = 0.8;
const ROLE = "app";
const DATABASE = "app";
const RUNNER = localContainer("bench-pool");

const argument = (name: string, fallback: number) => {
    const at = process.argv.indexOf(`--${name}`);
    const value = at === -1 ? fallback : Number(process.argv[at + 1]);
    if (!(value >= 1)) throw new Error(`--${name} takes a number, at least 1`);
    return value;
};
const seconds = argument("seconds", 15);
const scale = argument("scale", 10);

interface Run {
    script: keyof typeof SCRIPTS;
    clients: number;
    path: "pooled" | "direct";
    tps?: number;
    p95Ms?: number;
    p99Ms?: number;
    failed: number;
    aborted: number;
    /** pgbench's initial connection time. */
    connectSeconds?: number;
    /** CPU PgBouncer's container used during the run, in CPUs (1.0 = one core busy). */
    poolerCpus?: number;
    /** Why the run did not complete (pgbench's first error). */
    error?: string;
}

/** A setting of pgbouncer.ini as the stack wrote it into the running container. */
function iniSetting(ini: string, name: string): string {
    const value = new RegExp(`^${name} = (.*)$`, "m").exec(ini)?.[1];
    if (value === undefined) throw new Error(`the running pgbouncer.ini has no ${name}`);
    return value;
}

/** pgbench in the runner container; the password only in the environment docker passes on by name. */
function pgbench(args: string[], password: string): { status: number; output: string } {
    try {
        return { status: 0, output: docker(["exec", "-e", "PGPASSWORD", RUNNER, "pgbench", ...args], { PGPASSWORD: password }) };
    } catch (error) {
        return { status: 1, output: error instanceof Error ? error.message : String(error) };
    }
}

/**
 * pgbench's -T counts from before its clients connect, and its TPS leaves the connection time
 * out: 1,000 clients took 22.6 s to log in through PgBouncer here (SCRAM, one after another
 * per thread), which left no time to run in a 15 s run. Each run gets this much more.
 */
const connectAllowance = (clients: number) => Math.ceil(clients * 0.035);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

function measure(run: Run, password: string, poolerCpuUsage: () => number): Run {
    const [host, port] = run.path === "pooled" ? [POOLER_HOST, PGBOUNCER_PORT] : [POSTGRES_HOST, POSTGRES_PORT];
    const logPrefix = `/tmp/pgbench-${run.script}-${run.path}-${run.clients}`.replaceAll(" ", "");
    docker(["exec", RUNNER, "sh", "-c", "rm -f /tmp/pgbench-*"]);
    const cpuBefore = poolerCpuUsage();
    const started = Date.now();
    const r = pgbench(
        ["-h", host, "-p", String(port), "-U", ROLE, "-n", "-c", String(run.clients), "-j", "2", "-T", String(seconds + connectAllowance(run.clients)), "-l", `--log-prefix=${logPrefix}`, ...SCRIPTS[run.script], DATABASE],
        password,
    );
    run.poolerCpus = (poolerCpuUsage() - cpuBefore) / ((Date.now() - started) / 1000);
    const tps = /^tps = ([\d.]+) \(without initial connection time\)/m.exec(r.output)?.[1];
    run.connectSeconds = Number(/^initial connection time = ([\d.]+) ms/m.exec(r.output)?.[1] ?? NaN) / 1000;
    run.failed = Number(/^number of failed transactions: (\d+)/m.exec(r.output)?.[1] ?? 0);
    run.aborted = (r.output.match(/client \d+ aborted/g) ?? []).length;
    if (r.status !== 0 || tps === undefined) {
        run.error = (/(FATAL|error): .*$/m.exec(r.output)?.[0] ?? r.output.split("\n").slice(-3).join(" ")).slice(0, 160);
        if (tps === undefined) return run;
    }
    run.tps = Number(tps);
    // Per-transaction log: client, transaction, latency in µs (or "failed"), script, epoch s, µs.
    const latencies = docker(["exec", RUNNER, "sh", "-c", `cat ${logPrefix}.* | cut -d' ' -f3 | grep -E '^[0-9]+$' | sort -n`])
        .split("\n")
        .filter(Boolean)
        .map(Number);
    if (latencies.length > 0) {
        run.p95Ms = percentile(latencies, 95) / 1000;
        run.p99Ms = percentile(latencies, 99) / 1000;
    }
    return run;
}

const fixed = (n: number | undefined, digits = 1) => (n === undefined ? "-" : n.toFixed(digits));

async function main(): Promise<void> {
    requireRunning("postgres", "pgbouncer");
    const ini = docker(["exec", localContainer("pgbouncer"), "cat", "/etc/pgbouncer/pgbouncer.ini"]);
    const maxConnections = docker(["exec", localContainer("postgres"), "psql", "-U", "postgres", "-tAc", "SHOW max_connections"]);
    const cpus = docker(["inspect", "-f", "{{.HostConfig.NanoCpus}}", localContainer("pgbouncer")]);
    // The app role's password, as the stack gave it to PgBouncer (which logs in to Postgres with it).
    const userlist = docker(["exec", localContainer("pgbouncer"), "cat", "/etc/pgbouncer/userlist.txt"]);
    const password = new RegExp(`^"${ROLE}" "([^"]+)"$`, "m").exec(userlist)?.[1];
    if (!password) throw new Error(`no ${ROLE} in PgBouncer's userlist`);
    console.log(
        `bench:pool: PgBouncer pool_mode ${iniSetting(ini, "pool_mode")}, default_pool_size ${iniSetting(ini, "default_pool_size")} (poolerDefaultPoolSize), ` +
            `reserve_pool_size ${iniSetting(ini, "reserve_pool_size")}, max_client_conn ${iniSetting(ini, "max_client_conn")}, ${Number(cpus) / 1e9} CPU; ` +
            `Postgres max_connections ${maxConnections}; pgbench scale ${scale}, ${seconds} s a run, ${(CLIENTS.length * 2 + 1) * 2} runs`,
    );

    const poolerCpu = cgroupOf(docker(["inspect", "-f", "{{.Id}}", localContainer("pgbouncer")])).cpuUsage;
    const image = docker(["inspect", "-f", "{{.Config.Image}}", localContainer("postgres")]);
    if (docker(["ps", "-aq", "--filter", `name=^${RUNNER}$`]) !== "") docker(["rm", "-f", RUNNER]);
    docker(["run", "-d", "--name", RUNNER, "--network", `${localContainer("internal")}`, "--entrypoint", "sleep", image, "infinity"]);
    const runs: Run[] = [];
    try {
        const init = pgbench(["-h", POSTGRES_HOST, "-U", ROLE, "-i", "-q", "-s", String(scale), DATABASE], password);
        if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.output}`);
        console.log("script       clients path      tps   p95 ms   p99 ms  failed aborted  PgBouncer CPU  connect s  note");
        // Direct runs first: PgBouncer keeps its server connections open for a while after a
        // pooled run, and they would take the slots direct clients need.
        for (const path of ["direct", "pooled"] as const) {
            for (const script of Object.keys(SCRIPTS) as (keyof typeof SCRIPTS)[]) {
                for (const clients of path === "direct" ? [DIRECT_BASELINE_CLIENTS, ...CLIENTS] : CLIENTS) {
                    const run = measure({ script, clients, path, failed: 0, aborted: 0 }, password, poolerCpu);
                    runs.push(run);
                    const note = run.error ? (path === "direct" && clients > Number(maxConnections) ? `expected (max_connections ${maxConnections}): ${run.error}` : run.error) : "";
                    console.log(
                        `${script.padEnd(12)} ${String(clients).padStart(7)} ${path.padEnd(7)} ${fixed(run.tps, 0).padStart(6)} ${fixed(run.p95Ms).padStart(8)} ${fixed(run.p99Ms).padStart(8)} ${String(run.failed).padStart(7)} ${String(run.aborted).padStart(7)}  ${fixed(run.poolerCpus, 2).padStart(13)}  ${fixed(run.connectSeconds).padStart(9)}  ${note}`,
                    );
                }
            }
        }
    } finally {
        pgbench(["-h", POSTGRES_HOST, "-U", ROLE, "-i", "-I", "d", DATABASE], password);
        docker(["rm", "-f", RUNNER]);
    }

    let allMet = true;
    const target = (what: string, met: boolean) => {
        allMet &&= met;
        console.log(`${what}: ${met ? "met" : "NOT met"}`);
    };
    for (const script of Object.keys(SCRIPTS) as (keyof typeof SCRIPTS)[]) {
        const at1000 = runs.find((r) => r.script === script && r.path === "pooled" && r.clients === 1000)!;
        const direct = runs.filter((r) => r.script === script && r.path === "direct" && r.tps !== undefined);
        const directBest = Math.max(...direct.map((r) => r.tps!));
        const ratio = (at1000.tps ?? 0) / directBest;
        target(`${script}: 1,000 clients through the pooler, ${at1000.failed} failed transactions, ${at1000.aborted} aborted clients${at1000.error ? ` (${at1000.error})` : ""} (target 0)`, at1000.tps !== undefined && !at1000.error && at1000.failed === 0 && at1000.aborted === 0);
        target(`${script}: pooled TPS at 1,000 clients ${fixed(at1000.tps, 0)} / direct's best ${fixed(directBest, 0)} (${direct.find((r) => r.tps === directBest)?.clients} clients) = ${ratio.toFixed(2)}x (target >= ${TARGET_RATIO}x)`, ratio >= TARGET_RATIO);
        target(`${script}: p99 at 1,000 clients through the pooler ${fixed(at1000.p99Ms)} ms (p95 ${fixed(at1000.p95Ms)} ms) (target: reported)`, at1000.p99Ms !== undefined);
    }
    process.exitCode = allMet ? 0 : 1;
}

main().catch((error: unknown) => {
    console.error(`bench:pool: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
});
