// Reaching the local stack's containers from a benchmark: docker on this machine, the
// containers by the names the stack gives them (`byte-runner-local-<service>`).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";

export const LOCAL_PREFIX = "byte-runner-local";

/** The local stack's container of a service, e.g. `byte-runner-local-pgbouncer`. */
export const localContainer = (service: string) => `${LOCAL_PREFIX}-${service}`;

/** Runs docker and returns its trimmed stdout; throws with its stderr when it fails. `env` adds variables docker passes on by name (-e NAME). */
export function docker(args: string[], env: Record<string, string> = {}): string {
    const r = spawnSync("docker", args, { encoding: "utf8", maxBuffer: 512 * 1024 * 1024, env: { ...process.env, ...env } });
    if (r.status !== 0) throw new Error(`docker ${args.slice(0, 3).join(" ")}: ${(r.stderr || String(r.error)).trim()}`);
    return r.stdout.trim();
}

/** Throws unless each service's container of the local stack is running. */
export function requireRunning(...services: string[]): void {
    for (const service of services) {
        if (docker(["ps", "-q", "--filter", `name=^${localContainer(service)}$`]) === "") {
            throw new Error(`${localContainer(service)} is not running: bring the local stack up first (bash tools/local-stack.sh up)`);
        }
    }
}

/** The container's cgroup directories (v1: one per controller; v2: one for all). */
export function cgroupOf(id: string): { memoryStat: string; cpuUsage: () => number } {
    const v1 = `/sys/fs/cgroup/memory/docker/${id}`;
    if (fs.existsSync(v1)) {
        return {
            memoryStat: `${v1}/memory.stat`,
            cpuUsage: () => Number(fs.readFileSync(`/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`, "utf8")) / 1e9,
        };
    }
    const v2 = [`/sys/fs/cgroup/system.slice/docker-${id}.scope`, `/sys/fs/cgroup/docker/${id}`].find((d) => fs.existsSync(d));
    if (!v2) throw new Error(`no cgroup found for container ${id}`);
    return {
        memoryStat: `${v2}/memory.stat`,
        cpuUsage: () => Number(/^usage_usec (\d+)$/m.exec(fs.readFileSync(`${v2}/cpu.stat`, "utf8"))?.[1]) / 1e6,
    };
}
