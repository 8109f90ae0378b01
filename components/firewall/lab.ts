// A two-namespace lab for the firewall tests: "vps" (rules applied, listeners) and
// "outside" (scanners), joined by a veth pair on private test addresses only.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO_ROOT } from "../shared/naming";
import { settingsText } from "../shared/vps-script";
import { FIREWALL_SCRIPT } from "./firewall";

const FIREWALL_FILE = path.join(REPO_ROOT, "components", FIREWALL_SCRIPT);
const LISTENERS_SCRIPT = path.resolve(__dirname, "tcp-listeners.mjs");
const PROBE_SCRIPT = path.resolve(__dirname, "tcp-probe.mjs");
export const TABLE = "byte_runner_firewall";
/** Every namespace this suite creates starts with this, so a crashed run's leftovers can be found. */
export const NAMESPACE_PREFIX = "brfw-";

/** Addresses on the lab link. The outside namespace holds three, one per role. */
export const address = {
    vps: { v4: "10.213.0.1", v6: "fd00:213::1" },
    admin: { v4: "10.213.0.2", v6: "fd00:213::2" },
    edge: { v4: "10.213.0.3", v6: "fd00:213::3" },
    stranger: { v4: "10.213.0.4", v6: "fd00:213::4" },
} as const;
export type Role = "admin" | "edge" | "stranger";

export interface CommandResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs a command to completion; never throws for a non-zero exit (callers assert on it). */
export function run(
    command: string,
    args: string[],
    options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, {
            env: options.env ?? process.env,
            stdio: ["pipe", "pipe", "pipe"],
            timeout: options.timeoutMs ?? 60_000,
        });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
        child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
        child.on("error", reject);
        child.on("close", (code) => resolve({ code, stdout, stderr }));
        // A command that exits without reading its stdin must not fail the run with EPIPE.
        child.stdin.on("error", () => undefined);
        child.stdin.end(options.input ?? "");
    });
}

/** Like run, but a failure is an exception carrying the command's stderr. */
export async function must(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
    const result = await run(command, args, options);
    if (result.code !== 0) {
        throw new Error(`${command} ${args.join(" ")} exited ${result.code}: ${result.stderr}${result.stdout}`);
    }
    return result.stdout;
}

/** The lab's settings unless a test says otherwise: SSH on 22 from everywhere, 80/443 open, nothing saved for boot. */
export const LAB_SETTINGS: Readonly<Record<string, string>> = {
    SSH_PORT: "22",
    ADMIN_CIDRS: "",
    PUBLIC_PORTS: "80 443",
    CLOUDFLARE_ONLY: "0",
    CLOUDFLARE_RANGES: "",
    PERSIST_DIR: "",
    ALLOW_LOCKOUT: "0",
};

/** An environment without SSH_CONNECTION, so the lockout guard only runs when a test asks. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    const env = { ...process.env, ...extra };
    if (!("SSH_CONNECTION" in extra)) delete env.SSH_CONNECTION;
    return env;
}

export class Lab {
    readonly vps: string;
    readonly outside: string;
    /** Scratch files of this lab (saved rulesets, the Docker engine's state); set by create(). */
    tempDir = "";
    private listeners: ChildProcess[] = [];

    constructor(suffix: string) {
        this.vps = `${NAMESPACE_PREFIX}vps${suffix}-${process.pid}`;
        this.outside = `${NAMESPACE_PREFIX}out${suffix}-${process.pid}`;
    }

    async create(): Promise<void> {
        if (process.getuid?.() !== 0) throw new Error("the firewall lab needs root (network namespaces, nft)");
        for (const program of ["ip", "nft", "unshare"]) {
            if ((await run("sh", ["-c", `command -v ${program}`])).code !== 0) {
                throw new Error(`${program} is missing: apt-get install iproute2 nftables util-linux`);
            }
        }
        this.tempDir = mkdtempSync(path.join(tmpdir(), "byte-runner-firewall-"));
        await removeStaleNamespaces();
        await must("ip", ["netns", "add", this.vps]);
        await must("ip", ["netns", "add", this.outside]);
        await must("ip", ["-n", this.vps, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", this.outside]);
        for (const namespace of [this.vps, this.outside]) {
            await must("ip", ["-n", namespace, "link", "set", "lo", "up"]);
            await must("ip", ["-n", namespace, "link", "set", "eth0", "up"]);
        }
        await this.addAddress(this.vps, address.vps);
        for (const role of ["admin", "edge", "stranger"] as const) await this.addAddress(this.outside, address[role]);
    }

    private async addAddress(namespace: string, pair: { v4: string; v6: string }): Promise<void> {
        await must("ip", ["-n", namespace, "addr", "add", `${pair.v4}/24`, "dev", "eth0"]);
        // nodad: the address is usable at once instead of after duplicate detection.
        await must("ip", ["-n", namespace, "addr", "add", `${pair.v6}/64`, "dev", "eth0", "nodad"]);
    }

    /** Starts TCP echo listeners in a namespace (the vps one unless told); they exit when their stdin closes. */
    async listen(ports: number[], namespace = this.vps): Promise<void> {
        const child = spawn("ip", ["netns", "exec", namespace, process.execPath, LISTENERS_SCRIPT, ...ports.map(String)], {
            stdio: ["pipe", "pipe", "inherit"],
        });
        this.listeners.push(child);
        await new Promise<void>((resolve, reject) => {
            child.stdout!.setEncoding("utf8").on("data", (text: string) => {
                if (text.includes("ready")) resolve();
            });
            child.once("exit", (code) => reject(new Error(`listeners exited ${code} before listening`)));
        });
    }

    /**
     * Runs firewall.sh inside the vps namespace with settings on stdin: LAB_SETTINGS
     * with `settings` over them (the script takes every setting from its caller).
     */
    firewall(settings: Record<string, string>, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
        return run("ip", ["netns", "exec", this.vps, FIREWALL_FILE, ...args], {
            input: settingsText({ ...LAB_SETTINGS, ...settings }),
            env: cleanEnv(env),
        });
    }

    async applyFirewall(settings: Record<string, string>): Promise<string> {
        const result = await this.firewall(settings);
        if (result.code !== 0) throw new Error(`firewall.sh exited ${result.code}: ${result.stderr}`);
        return result.stdout;
    }

    async removeFirewall(): Promise<void> {
        await must("ip", ["netns", "exec", this.vps, "nft", "delete", "table", "inet", TABLE]).catch(() => undefined);
    }

    /** The table as nft lists it, or "" when it does not exist. */
    async listTable(): Promise<string> {
        const result = await run("ip", ["netns", "exec", this.vps, "nft", "list", "table", "inet", TABLE]);
        return result.code === 0 ? result.stdout : "";
    }

    /**
     * Connects from the outside namespace to the vps address of each probe's family.
     * Returns "open" | "refused" | "filtered" per probe, in order.
     */
    async scan(probes: { from: Role; family: "v4" | "v6"; port: number }[]): Promise<string[]> {
        const targets = probes.map(({ from, family, port }) => ({
            from: address[from][family],
            host: address.vps[family],
            port,
        }));
        const output = await must("ip", ["netns", "exec", this.outside, process.execPath, PROBE_SCRIPT, "scan", JSON.stringify(targets)]);
        return JSON.parse(output) as string[];
    }

    /** The ports that answer on the vps namespace's loopback: the listeners themselves are alive. */
    async answeringInside(ports: number[]): Promise<number[]> {
        const targets = ports.map((port) => ({ from: "127.0.0.1", host: "127.0.0.1", port }));
        const output = await must("ip", ["netns", "exec", this.vps, process.execPath, PROBE_SCRIPT, "scan", JSON.stringify(targets)]);
        const results = JSON.parse(output) as string[];
        return ports.filter((_, index) => results[index] === "open");
    }

    /** The ports that answer (connect) from one outside address, in the order given. */
    async answering(from: Role, family: "v4" | "v6", ports: number[]): Promise<number[]> {
        const results = await this.scan(ports.map((port) => ({ from, family, port })));
        return ports.filter((_, index) => results[index] === "open");
    }

    /** Opens a long-lived TCP session from the outside namespace (see tcp-probe.mjs session). */
    openSession(from: Role, port: number): ChildProcess {
        return spawn("ip", ["netns", "exec", this.outside, process.execPath, PROBE_SCRIPT, "session", address[from].v4, address.vps.v4, String(port)], {
            stdio: ["pipe", "pipe", "inherit"],
        });
    }

    async destroy(): Promise<void> {
        for (const listener of this.listeners) {
            listener.stdin?.end();
            listener.kill("SIGTERM");
        }
        this.listeners = [];
        for (const namespace of [this.vps, this.outside]) {
            await run("ip", ["netns", "delete", namespace]);
        }
        if (this.tempDir) rmSync(this.tempDir, { recursive: true, force: true });
    }
}

/** Deletes namespaces left by an earlier run of this suite that was killed before its cleanup. */
async function removeStaleNamespaces(): Promise<void> {
    const listing = await must("ip", ["netns", "list"]);
    for (const line of listing.split("\n")) {
        const name = line.split(" ")[0];
        const match = name?.match(new RegExp(`^${NAMESPACE_PREFIX}[a-z]+-(\\d+)$`));
        if (match && !processAlive(Number(match[1]))) await run("ip", ["netns", "delete", name!]);
    }
}

function processAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch {
        return false;
    }
}

/** Reads lines from a child's stdout until one matches, or fails after timeoutMs. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 5000): Promise<string> {
    return new Promise((resolve, reject) => {
        let buffered = "";
        const timer = setTimeout(() => {
            child.stdout!.off("data", onData);
            reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; got: ${buffered}`));
        }, timeoutMs);
        const onData = (chunk: Buffer | string) => {
            buffered += chunk.toString();
            const line = buffered.split("\n").find((candidate) => pattern.test(candidate));
            if (line !== undefined) {
                clearTimeout(timer);
                child.stdout!.off("data", onData);
                resolve(line);
            }
        };
        child.stdout!.on("data", onData);
    });
}
