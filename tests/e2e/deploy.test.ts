// Zero-downtime deploys on the local stack, under a bounded load through Caddy (at most 60 s,
// loopback only): a new backend release, a broken one (the update fails naming its health
// output, the old release keeps serving), the rollback, a frontend release and a backend built
// from a build context on the VPS. The stand-in releases mark their answers with
// x-standin-release (tools/local-vps/images: backend-v2, backend-broken, frontend-v2; the
// context in tests/e2e/fixtures/backend-context). Needs `bash tools/local-stack.sh setup` first.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { startLoad } from "../http-load";
import { explain, needsPlugins, pulumi, pulumiAsync, REPO, run, Run } from "./pulumi";

const STACK = ["--stack", "local", "--non-interactive"];
const PREFIX = "byte-runner-local";
const FRONTEND = "local.byte-runner.test";
const API = "api-local.byte-runner.test";
const SKIP = needsPlugins("command", "docker", "random");
/** What the local stack runs (tools/local-vps/Pulumi.local.template.yaml), put back at the end. */
const FIRST = { backendImage: "byte-runner-local/backend:1-standin", frontendImage: "byte-runner-local/frontend:1-standin" };
const RELEASE_HEADER = "x-standin-release";
const LOAD = { concurrency: 4, maxSeconds: 60 };

function docker(args: string[]): string {
    const r = run("docker", args);
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}

function config(args: string[]): void {
    const r = pulumi(["config", ...args, ...STACK.slice(0, 2)]);
    assert.equal(r.status, 0, explain(r));
}

/** The service's containers (found by its label, as the scripts find them), with their images. */
function containersOf(service: string): string[] {
    return docker(["ps", "-a", "--filter", `label=org.byte-runner.service=${PREFIX}-${service}`, "--format", "{{.Names}} {{.Image}} {{.Status}}"])
        .split("\n")
        .filter(Boolean);
}

let ca = "";

/** The image's short id, as `docker ps` shows a container started from a pulled image (its id). */
function imageId(ref: string): string {
    return docker(["image", "inspect", "--format", "{{.Id}}", ref]).replace(/^sha256:/, "").slice(0, 12);
}

/** `pulumi up` while the load runs against `hostname`; returns both. */
async function upUnderLoad(hostname: string, urlPath: string): Promise<{ up: Run; load: Awaited<ReturnType<ReturnType<typeof startLoad>["stop"]>> }> {
    const load = startLoad({ address: { host: "127.0.0.1", port: 443 }, hostname, path: urlPath, ca, ...LOAD, releaseHeader: RELEASE_HEADER });
    const up = await pulumiAsync(["up", ...STACK, "--yes", "--skip-preview"]);
    return { up, load: await load.stop() };
}

/** Every answer from the first one `release` gave on came from `release`. */
function switchedFor(good: { release: string; at: number }[], release: string): void {
    const first = good.findIndex((a) => a.release === release);
    assert.ok(first >= 0, `no answer from release ${release} during the load`);
    const sorted = [...good].sort((a, b) => a.at - b.at);
    const firstAt = good[first].at;
    const laterOthers = sorted.filter((a) => a.at > firstAt + 1000 && a.release !== release);
    assert.deepEqual(laterOthers.slice(0, 5), [], `answers from another release more than 1 s after ${release} first answered`);
}

describe("zero-downtime deploys on the local stack", { concurrency: false }, () => {
    before(() => {
        if (SKIP) return;
        assert.ok(fs.existsSync(path.join(REPO, "Pulumi.local.yaml")), "run `bash tools/local-stack.sh setup` first");
        const r = pulumi(["up", ...STACK, "--yes", "--skip-preview"]);
        assert.equal(r.status, 0, explain(r));
        ca = docker(["exec", `${PREFIX}-caddy`, "cat", "/data/caddy/pki/authorities/local/root.crt"]) + "\n";
        // A reload hands the closed sockets' pending connections to the new ones (INFRASTRUCTURE.md, Deploy a change).
        assert.equal(docker(["exec", `${PREFIX}-caddy`, "cat", "/proc/sys/net/ipv4/tcp_migrate_req"]), "1");
    });

    it("1. a new backend release under load: 0 failed requests, then only the new release answers, and the old container is gone", { skip: SKIP }, async () => {
        config(["set", "backendImage", "byte-runner-local/backend:2-standin"]);
        const { up, load } = await upUnderLoad(API, "/health");
        assert.equal(up.status, 0, explain(up));
        assert.deepEqual(load.failed, [], `${load.failed.length} of ${load.answers.length} requests failed (resent on a closed keep-alive connection: ${load.resentOnClosedKeepAlive})`);
        switchedFor(load.answers, "2");
        const left = containersOf("backend");
        assert.equal(left.length, 1, left.join("; "));
        assert.match(left[0], new RegExp(` ${imageId("byte-runner-local/backend:2-standin")} Up .*\\(healthy\\)`));
    });

    it("2. a broken release: the update fails with its health output, 0 failed requests, the old release keeps serving", { skip: SKIP }, async () => {
        config(["set", "backendImage", "byte-runner-local/backend:3-broken-standin"]);
        const { up, load } = await upUnderLoad(API, "/health");
        assert.notEqual(up.status, 0, "pulumi up succeeded with a release whose health check fails");
        const output = up.stdout + up.stderr;
        assert.match(output, /never became healthy/);
        assert.match(output, /GET \/health: HTTP 500/, "the health check's own output is not shown");
        assert.match(output, /Nothing was switched/);
        assert.deepEqual(load.failed, [], `${load.failed.length} of ${load.answers.length} requests failed`);
        assert.ok(load.answers.every((a) => a.release === "2"), "an answer came from the broken release");
    });

    it("3. rollback: the previous image set back deploys through the same path, the broken container is retired", { skip: SKIP }, async () => {
        config(["set", "backendImage", "byte-runner-local/backend:2-standin"]);
        const { up, load } = await upUnderLoad(API, "/health");
        assert.equal(up.status, 0, explain(up));
        assert.deepEqual(load.failed, [], `${load.failed.length} of ${load.answers.length} requests failed`);
        const left = containersOf("backend");
        assert.equal(left.length, 1, left.join("; "));
        assert.match(left[0], new RegExp(` ${imageId("byte-runner-local/backend:2-standin")} Up `));
    });

    it("4. a frontend release under load: 0 failed requests, then only the new release answers", { skip: SKIP }, async () => {
        config(["set", "frontendImage", "byte-runner-local/frontend:2-standin"]);
        const { up, load } = await upUnderLoad(FRONTEND, "/");
        assert.equal(up.status, 0, explain(up));
        assert.deepEqual(load.failed, [], `${load.failed.length} of ${load.answers.length} requests failed`);
        switchedFor(load.answers, "2");
        assert.equal(containersOf("frontend").length, 1);
    });

    it("5. a backend given as a build context: built on the VPS (tag = hash of the context) and deployed under load, 0 failed requests", { skip: SKIP }, async () => {
        config(["rm", "backendImage"]);
        config(["set", "backendBuildContext", "tests/e2e/fixtures/backend-context"]);
        const { up, load } = await upUnderLoad(API, "/health");
        assert.equal(up.status, 0, explain(up));
        assert.deepEqual(load.failed, [], `${load.failed.length} of ${load.answers.length} requests failed`);
        switchedFor(load.answers, "context");
        const left = containersOf("backend");
        assert.equal(left.length, 1, left.join("; "));
        assert.match(left[0], / byte-runner-local-backend:ctx-[0-9a-f]{16} Up /);
    });

    after(() => {
        if (SKIP) return;
        // Back to what the local stack runs.
        pulumi(["config", "rm", "backendBuildContext", ...STACK.slice(0, 2)]);
        for (const [key, value] of Object.entries(FIRST)) pulumi(["config", "set", key, value, ...STACK.slice(0, 2)]);
        const r = pulumi(["up", ...STACK, "--yes", "--skip-preview"]);
        assert.equal(r.status, 0, explain(r));
    });
});
