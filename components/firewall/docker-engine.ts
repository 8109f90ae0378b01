// A throwaway Docker engine inside the lab's "vps" namespace, so Docker's own iptables
// rules (DNAT for published ports) live next to the firewall under test and nowhere else.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { allowedSkip, missingError } from "../../tests/skip";
import { must, run } from "./lab";

export const IMAGE = "byte-runner-firewall-test:busybox";
const BUSYBOX = "/bin/busybox";

/** What this machine lacks to run the engine, or undefined when it has everything. */
function missingForDocker(): string | undefined {
    for (const program of ["dockerd", "docker", "iptables"]) {
        if (spawnSync("sh", ["-c", `command -v ${program}`]).status !== 0) return `${program} is not installed (apt-get install docker.io iptables)`;
    }
    if (!existsSync(BUSYBOX)) return `${BUSYBOX} is missing (apt-get install busybox-static) to build the test image`;
    return undefined;
}

/**
 * The Docker suite's `skip` option (synchronous: it decides a skip). Something missing is
 * a skip only with BYTE_RUNNER_ALLOW_SKIP=1, said loudly; otherwise the suite runs and
 * start() fails, naming what is missing.
 */
export function dockerUnavailableReason(): string | undefined {
    return allowedSkip(missingForDocker());
}

/**
 * `ip netns exec` mounts a fresh /sys in its own mount namespace, which hides the cgroup
 * hierarchies dockerd needs; this replays the host's cgroup mounts there first.
 */
function cgroupMountCommands(): string {
    const commands = ["mount -t tmpfs cgroup_root /sys/fs/cgroup"];
    for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
        const [, mountPoint, type, options] = line.split(" ");
        if (!mountPoint?.startsWith("/sys/fs/cgroup/") || (type !== "cgroup" && type !== "cgroup2")) continue;
        // Named hierarchies (name=systemd) carry no controller dockerd uses.
        if (options?.includes("name=")) continue;
        const controllers = type === "cgroup" ? `-o ${options!.split(",").filter((option) => !["rw", "relatime", "nosuid", "nodev", "noexec"].includes(option)).join(",")}` : "";
        commands.push(`mkdir -p ${mountPoint}`, `mount -t ${type} ${controllers} ${type} ${mountPoint}`);
    }
    if (commands.length === 1) commands.splice(0, 1, "mount -t cgroup2 cgroup2 /sys/fs/cgroup");
    return commands.join(" && ");
}

export class VpsDockerEngine {
    private readonly root: string;
    private readonly socket: string;
    private daemon: ChildProcess | undefined;
    private readonly containers: string[] = [];

    constructor(
        private readonly namespace: string,
        tempDir: string,
    ) {
        this.root = path.join(tempDir, "docker");
        this.socket = path.join(this.root, "docker.sock");
    }

    async start(): Promise<void> {
        const missing = missingForDocker();
        if (missing) throw missingError(`the Docker engine for this suite cannot run: ${missing}`);
        mkdirSync(this.root, { recursive: true });
        // Its own config file: the machine's /etc/docker/daemon.json belongs to another engine.
        writeFileSync(path.join(this.root, "daemon.json"), "{}\n");
        const dockerdArgs = [
            `--config-file=${this.root}/daemon.json`,
            `--data-root=${this.root}/data`,
            `--exec-root=${this.root}/exec`,
            `--pidfile=${this.root}/dockerd.pid`,
            `--host=unix://${this.socket}`,
            "--storage-driver=vfs",
            "--ip6tables=false",
        ];
        this.daemon = spawn(
            "ip",
            ["netns", "exec", this.namespace, "bash", "-c", `${cgroupMountCommands()} && exec dockerd "$@"`, "dockerd", ...dockerdArgs],
            { stdio: ["ignore", "ignore", "pipe"] },
        );
        let log = "";
        this.daemon.stderr!.setEncoding("utf8").on("data", (chunk: string) => (log = (log + chunk).slice(-4000)));
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline) {
            if (this.daemon.exitCode !== null) throw new Error(`dockerd exited ${this.daemon.exitCode}: ${log}`);
            if ((await this.docker(["version", "--format", "{{.Server.Version}}"])).code === 0) return;
            await new Promise((resolve) => setTimeout(resolve, 250));
        }
        throw new Error(`dockerd did not answer within 30 s: ${log}`);
    }

    docker(args: string[]) {
        return run("docker", ["--host", `unix://${this.socket}`, ...args]);
    }

    /** A one-binary image: busybox gives httpd (listener), wget and nc. */
    async importImage(): Promise<void> {
        const rootfs = path.join(this.root, "rootfs");
        mkdirSync(path.join(rootfs, "bin"), { recursive: true });
        mkdirSync(path.join(rootfs, "www"), { recursive: true });
        copyFileSync(BUSYBOX, path.join(rootfs, "bin/busybox"));
        if (!existsSync(path.join(rootfs, "bin/sh"))) symlinkSync("busybox", path.join(rootfs, "bin/sh"));
        const tarball = path.join(this.root, "rootfs.tar");
        await must("tar", ["-C", rootfs, "-cf", tarball, "."]);
        const imported = await this.docker(["import", tarball, IMAGE]);
        if (imported.code !== 0) throw new Error(`docker import: ${imported.stderr}`);
    }

    /** Runs a busybox httpd answering `body` on containerPort; returns the container's address. */
    async runWebServer(name: string, containerPort: number, body: string, publish: string[] = []): Promise<string> {
        const script = `mkdir -p /www && echo ${body} > /www/index.html && exec busybox httpd -f -p ${containerPort} -h /www`;
        const publishArgs = publish.flatMap((mapping) => ["--publish", mapping]);
        const started = await this.docker(["run", "--detach", "--name", name, ...publishArgs, IMAGE, "/bin/sh", "-c", script]);
        if (started.code !== 0) throw new Error(`docker run ${name}: ${started.stderr}`);
        this.containers.push(name);
        const inspected = await this.docker(["inspect", "--format", "{{.NetworkSettings.IPAddress}}", name]);
        return inspected.stdout.trim();
    }

    async stop(): Promise<void> {
        if (this.containers.length > 0) await this.docker(["rm", "--force", ...this.containers]);
        const daemon = this.daemon;
        if (!daemon || daemon.exitCode !== null) return;
        const exited = new Promise((resolve) => daemon.once("exit", resolve));
        // Our own dockerd, by the pid we spawned (ip netns exec execs into it).
        daemon.kill("SIGTERM");
        const timer = setTimeout(() => daemon.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
    }
}
