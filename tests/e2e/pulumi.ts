// Helpers for the end-to-end suite: the real Pulumi CLI with the project's offline
// environment (tools/pulumi-env.sh), and docker/curl on this machine.
import { spawn, spawnSync, SpawnSyncReturns } from "node:child_process";
import * as path from "node:path";
import { allowedSkip, missingError } from "../skip";

export const REPO = path.resolve(__dirname, "..", "..");

export interface Run {
    status: number;
    stdout: string;
    stderr: string;
}

function done(r: SpawnSyncReturns<string>): Run {
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** Runs `pulumi <args>` in the repo with tools/pulumi-env.sh sourced. */
export function pulumi(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
    return done(
        spawnSync("bash", ["-c", 'source tools/pulumi-env.sh && exec pulumi "$@"', "pulumi", ...args], {
            cwd: REPO,
            input: opts.input,
            encoding: "utf8",
            timeout: opts.timeoutMs ?? 20 * 60_000,
            maxBuffer: 64 * 1024 * 1024,
        }),
    );
}

export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Run {
    return done(spawnSync(cmd, args, { cwd: REPO, input: opts.input, encoding: "utf8", timeout: opts.timeoutMs ?? 5 * 60_000, maxBuffer: 64 * 1024 * 1024 }));
}

/** Explains a failed command in an assertion message (tail of its output). */
export function explain(r: Run): string {
    return `exit ${r.status}\n--- stdout (tail)\n${r.stdout.slice(-4000)}\n--- stderr (tail)\n${r.stderr.slice(-4000)}`;
}

/**
 * What this machine lacks for a test that needs the engine and these provider plugins, as
 * tools/test.sh found it: BYTE_RUNNER_PULUMI=missing (no engine) or the plugins listed in
 * BYTE_RUNNER_PLUGINS_MISSING. tools/test.sh sets them only when BYTE_RUNNER_ALLOW_SKIP=1
 * let the run go on without them; otherwise the run has already failed.
 */
export function missingForEngine(plugins: string[], env: NodeJS.ProcessEnv = process.env): string | false {
    if (env.BYTE_RUNNER_PULUMI === "missing") return "the Pulumi engine or its plugins could not be built on this machine (tools/pulumi-toolchain.sh failed; its log is in .local/phases/)";
    const missing = (env.BYTE_RUNNER_PLUGINS_MISSING ?? "").split(/\s+/).filter((plugin) => plugins.includes(plugin));
    return missing.length > 0 ? `provider plugin(s) ${missing.join(", ")} could not be built on this machine (tools/pulumi-toolchain.sh)` : false;
}

/**
 * The `skip` option of a test that needs the engine and these provider plugins; false when
 * they are all there. Something missing throws (the file fails, naming it) unless
 * BYTE_RUNNER_ALLOW_SKIP=1 allows the skip (tests/skip.ts). A test file that calls this is
 * one that needs the engine: tools/test.sh runs the other end-to-end files while the
 * toolchain is still building.
 */
export function needsPlugins(...plugins: string[]): string | false {
    const missing = missingForEngine(plugins);
    if (!missing) return false;
    const skip = allowedSkip(missing);
    if (skip) return skip;
    throw missingError(missing);
}

/** `pulumi <args>` like pulumi(), without blocking: for what must run meanwhile (a load). */
export function pulumiAsync(args: string[], opts: { timeoutMs?: number } = {}): Promise<Run> {
    return new Promise((resolve) => {
        const child = spawn("bash", ["-c", 'source tools/pulumi-env.sh && exec pulumi "$@"', "pulumi", ...args], { cwd: REPO, timeout: opts.timeoutMs ?? 20 * 60_000 });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.stderr.on("data", (chunk) => (stderr += chunk));
        child.on("close", (status) => resolve({ status: status ?? -1, stdout, stderr }));
    });
}
