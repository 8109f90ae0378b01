// bench:deploy — an app deploy under load, on the running local stack (`bash tools/local-stack.sh
// up` first), against issue 13's target: 0 failed requests while `pulumi up` replaces the backend.
// A steady-state run of the load first (its p99), then a deploy of the backend stand-in's other
// release (1-standin <-> 2-standin, tools/local-vps/images) with the same load through Caddy
// (tests/http-load.ts: 4 keep-alive clients on loopback, at most 60 s). Prints the failed
// requests, the requests resent on a keep-alive connection Caddy closed (not failures: see
// tests/http-load.ts), p99 during the deploy against steady state, and the deploy's duration;
// exit status 1 when the target is not met. Then the stack's first release is deployed back
// (the rollback path, not measured), so the local stack runs what it ran before.
//   npm run bench:deploy [-- --steady-seconds 10]
import { spawnSync } from "node:child_process";
import { percentile, startLoad } from "../tests/http-load";
import { pulumiAsync } from "../tests/e2e/pulumi";

const PREFIX = "byte-runner-local";
const API = "api-local.byte-runner.test";
const RELEASES = ["byte-runner-local/backend:1-standin", "byte-runner-local/backend:2-standin"];
const LOAD = { concurrency: 4, releaseHeader: "x-standin-release" };
const at = process.argv.indexOf("--steady-seconds");
const steadySeconds = at === -1 ? 10 : Number(process.argv[at + 1]);
if (!(steadySeconds >= 1 && steadySeconds <= 60)) throw new Error("--steady-seconds takes 1 to 60");

function run(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.trim()}`);
    return r.stdout.trim();
}
const pulumi = (args: string[]) => run("bash", ["-c", 'source tools/pulumi-env.sh && exec pulumi "$@"', "pulumi", ...args, "--stack", "local"]);

async function main(): Promise<void> {
    const ca = run("docker", ["exec", `${PREFIX}-caddy`, "cat", "/data/caddy/pki/authorities/local/root.crt"]) + "\n";
    const current = pulumi(["config", "get", "backendImage"]);
    const next = RELEASES.find((r) => r !== current) ?? RELEASES[0];
    const options = { address: { host: "127.0.0.1", port: 443 }, hostname: API, path: "/health", ca, ...LOAD };

    const steady = await new Promise<Awaited<ReturnType<ReturnType<typeof startLoad>["stop"]>>>((resolve) => {
        const load = startLoad({ ...options, maxSeconds: 60 });
        setTimeout(() => resolve(load.stop()), steadySeconds * 1000);
    });
    pulumi(["config", "set", "backendImage", next]);
    console.log(`bench:deploy: deploying ${current} -> ${next} under load (${LOAD.concurrency} clients through Caddy)`);
    const load = startLoad({ ...options, maxSeconds: 60 });
    const began = Date.now();
    const up = await pulumiAsync(["up", "--stack", "local", "--non-interactive", "--yes", "--skip-preview"]);
    const deploySeconds = (Date.now() - began) / 1000;
    const during = await load.stop();
    if (up.status !== 0) {
        console.error(up.stdout.slice(-3000), up.stderr.slice(-3000));
        throw new Error("pulumi up failed (above)");
    }
    const p99 = (r: typeof during) => percentile(r.answers.map((a) => a.ms), 99).toFixed(1);
    const served = new Set(during.answers.map((a) => a.release || "1"));
    console.log(`steady state:   ${steady.answers.length} requests in ${steadySeconds} s, ${steady.failed.length} failed, p99 ${p99(steady)} ms`);
    console.log(`during deploy:  ${during.answers.length} requests, ${during.failed.length} failed, p99 ${p99(during)} ms (releases that answered: ${[...served].join(", ")})`);
    console.log(`resent on a keep-alive connection Caddy closed: ${during.resentOnClosedKeepAlive} (not failures; tests/http-load.ts)`);
    for (const failure of during.failed.slice(0, 10)) console.log(`  failed at ${failure}`);
    console.log(`deploy duration: ${deploySeconds.toFixed(1)} s (pulumi up, gate, switch, drain, retire)`);
    const met = during.failed.length === 0;
    console.log(`target 0 failed requests during a deploy: ${met ? "met" : "NOT met"}`);
    process.exitCode = met ? 0 : 1;
    pulumi(["config", "set", "backendImage", current]);
    const back = await pulumiAsync(["up", "--stack", "local", "--non-interactive", "--yes", "--skip-preview"]);
    if (back.status !== 0) {
        console.error(back.stdout.slice(-3000), back.stderr.slice(-3000));
        throw new Error(`deploying ${current} back failed (above); the stack's config names it again`);
    }
    console.log(`deployed ${current} back`);
}

main().catch((error: Error) => {
    console.error(`bench:deploy: ${error.message}`);
    process.exitCode = 2;
});
