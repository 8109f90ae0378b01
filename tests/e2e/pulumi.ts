// Helpers for the end-to-end suite: the real Pulumi CLI with the project's offline
// environment (tools/pulumi-env.sh), and docker/curl on this machine.
import { spawnSync, SpawnSyncReturns } from "node:child_process";
import * as path from "node:path";

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
 * Set when tools/test.sh could not put every provider plugin in place: the tests that
 * need the engine then report themselves skipped, with this reason, instead of passing.
 */
export const PULUMI_MISSING =
    process.env.BYTE_RUNNER_PULUMI === "missing" ? "the Pulumi engine or a plugin the local stack needs could not be built on this machine (tools/local-stack.sh toolchain failed)" : false;

/**
 * The skip reason for a test that needs these provider plugins: the engine's, or the
 * plugins tools/test.sh found missing (BYTE_RUNNER_PLUGINS_MISSING); false when all are there.
 */
export function needsPlugins(...plugins: string[]): string | false {
    if (PULUMI_MISSING) return PULUMI_MISSING;
    const missing = (process.env.BYTE_RUNNER_PLUGINS_MISSING ?? "").split(/\s+/).filter((p) => plugins.includes(p));
    return missing.length > 0 ? `provider plugin(s) ${missing.join(", ")} could not be built on this machine (tools/pulumi-toolchain.sh)` : false;
}
