// bench:monitoring — what the monitoring set costs on the VPS, measured on the running local
// stack (`bash tools/local-stack.sh up` first), against issue 12's budget:
//   memory: the whole set's resident memory (RSS, from each container's cgroup) <= 512 MiB;
//   CPU:    the whole set idles at <= 5 % of one CPU (cgroup CPU time over a quiet minute);
//   disk:   Prometheus's samples per second and series, and the disk 15 days of them take at
//           the production scrape interval (~1.3 bytes a sample after compaction, Prometheus's
//           own sizing rule, doubled for the WAL and compaction headroom).
// Prints each figure and whether its target is met; exit status 1 when one is not.
//   npm run bench:monitoring [-- --seconds 60]
import * as fs from "node:fs";
import { MONITORING_SERVICES, MonitoringService } from "../components/monitoring/monitoring";
import { KEYS } from "../config";
import { cgroupOf, docker, LOCAL_PREFIX as PREFIX } from "./containers";

const MEMORY_TARGET_MIB = 512;
const CPU_TARGET_PERCENT = 5;
const BYTES_PER_SAMPLE = 1.3 * 2;
const secondsAt = process.argv.indexOf("--seconds");
const seconds = secondsAt === -1 ? 60 : Number(process.argv[secondsAt + 1]);
if (!(seconds >= 10)) throw new Error("--seconds takes a number of seconds, at least 10");

/** Resident memory in bytes: rss (v1) or anon (v2), what the kernel cannot drop as cache. */
function rssBytes(memoryStat: string): number {
    const text = fs.readFileSync(memoryStat, "utf8");
    return Number(/^(?:total_rss|anon) (\d+)$/m.exec(text)?.[1] ?? 0);
}

async function prometheusQuery(address: string, expr: string): Promise<number> {
    const response = await fetch(`http://${address}:9090/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as { data: { result: { value: [number, string] }[] } };
    return Number(body.data.result[0]?.value[1] ?? NaN);
}

async function main(): Promise<void> {
    const services = (Object.keys(MONITORING_SERVICES) as MonitoringService[]).filter((s) => docker(["ps", "-q", "--filter", `name=^${PREFIX}-${s}$`]) !== "");
    if (!services.includes("prometheus")) throw new Error("the local stack's monitoring is not running: bash tools/local-stack.sh up");
    const groups = services.map((s) => ({ service: s, ...cgroupOf(docker(["inspect", "-f", "{{.Id}}", `${PREFIX}-${s}`])) }));

    const cpuStart = groups.map((g) => g.cpuUsage());
    let peakRss = 0;
    const perService = new Map<string, number>();
    const started = Date.now();
    process.stdout.write(`bench:monitoring: sampling ${services.length} containers for ${seconds} s `);
    while (Date.now() - started < seconds * 1000) {
        let total = 0;
        for (const g of groups) {
            const rss = rssBytes(g.memoryStat);
            perService.set(g.service, Math.max(perService.get(g.service) ?? 0, rss));
            total += rss;
        }
        peakRss = Math.max(peakRss, total);
        process.stdout.write(".");
        await new Promise((resolve) => setTimeout(resolve, 5000));
    }
    const elapsed = (Date.now() - started) / 1000;
    if (peakRss === 0) throw new Error("no memory figure was read from the containers' cgroups");
    const cpuPercent = (groups.reduce((sum, g, i) => sum + g.cpuUsage() - cpuStart[i], 0) / elapsed) * 100;
    console.log("");

    const address = docker(["inspect", "-f", `{{ (index .NetworkSettings.Networks "${PREFIX}-monitoring").IPAddress }}`, `${PREFIX}-prometheus`]);
    const series = await prometheusQuery(address, "prometheus_tsdb_head_series");
    const samplesPerSecond = await prometheusQuery(address, "rate(prometheus_tsdb_head_samples_appended_total[2m])");
    const localInterval = Math.round(await prometheusQuery(address, 'max(prometheus_target_interval_length_seconds{quantile="0.5"})'));
    const prodInterval = Number(KEYS.monitoringScrapeIntervalSeconds.default);
    const retentionDays = Number(KEYS.monitoringRetentionDays.default);
    const prodSamplesPerSecond = (samplesPerSecond * localInterval) / prodInterval;
    const diskMiB = (prodSamplesPerSecond * 86400 * retentionDays * BYTES_PER_SAMPLE) / 2 ** 20;

    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    for (const [service, rss] of perService) console.log(`  ${service.padEnd(22)} peak RSS ${mib(rss).padStart(6)} MiB`);
    const memoryOk = peakRss / 2 ** 20 <= MEMORY_TARGET_MIB;
    const cpuOk = cpuPercent <= CPU_TARGET_PERCENT;
    console.log(`memory: peak RSS of the whole set ${mib(peakRss)} MiB (target <= ${MEMORY_TARGET_MIB} MiB): ${memoryOk ? "met" : "NOT met"}`);
    console.log(`CPU:    ${cpuPercent.toFixed(2)} % of one CPU over ${elapsed.toFixed(0)} s idle (target <= ${CPU_TARGET_PERCENT} %): ${cpuOk ? "met" : "NOT met"}`);
    console.log(
        `disk:   ${series} series, ${samplesPerSecond.toFixed(0)} samples/s at the local ${localInterval} s interval; at ${prodInterval} s and ${retentionDays} d: ~${diskMiB.toFixed(0)} MiB (${BYTES_PER_SAMPLE} bytes a sample)`,
    );
    if (services.includes("grafana") === false) console.log("note: no Grafana here (not obtainable); in prod add its RSS (~80-120 MiB, limited by its share of monitoringMemoryMb)");
    process.exitCode = memoryOk && cpuOk ? 0 : 1;
}

main().catch((error: unknown) => {
    console.error(`bench:monitoring: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 2;
});
