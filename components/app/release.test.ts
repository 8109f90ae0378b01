// release.sh (an app's release on the VPS) as shipped, with a stand-in `docker` that plays the
// engine: a healthy release is switched to (upstream file, caddy reload), drained and the old
// release retired; a release that never becomes healthy fails with its health output and
// leaves the upstream file, Caddy and the old release alone. The real engine and Caddy run it
// in tests/e2e/deploy.test.ts; the reload itself under load in components/proxy/caddyfile.test.ts.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { settingsText, shippedText } from "../shared/vps-script";
import { RELEASE_SCRIPT } from "./app";

const SERVICE = "byte-runner-staging-backend";
const OLD = `${SERVICE}-00000000aa`;
const NEW = `${SERVICE}-00000000bb`;

// Health of the new container from FAKE_HEALTH; the service's containers from FAKE_CONTAINERS;
// every call recorded.
const FAKE_DOCKER = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_RECORD/docker.args"
case "$1 $2" in
    "container inspect")
        case "$*" in
            *Health.Log*) printf '  exit 1 at 2026-12-01T10:00:00Z: "GET /health: HTTP 500\\\\n"\\n' ;;
            *Health.Status*) echo "$FAKE_HEALTH" ;;
            *State.Running*) echo true ;;
            *" ${SERVICE}") exit 1 ;; # no container has the service's own name
        esac ;;
    "ps -a") printf '%s\\n' $FAKE_CONTAINERS ;;
    "exec ${SERVICE.replace("backend", "caddy")}")
        case "$*" in
            *"caddy reload"*) ;;
            *reverse_proxy/upstreams*) printf '[{"address":"${OLD}:4000","num_requests":0,"fails":0}]\\n' ;;
            *) echo "fake docker: unexpected $*" >&2; exit 9 ;;
        esac ;;
    "logs --tail") echo "server: /health fails on purpose" ;;
    "stop --time" | "rm -f") ;;
    *) echo "fake docker: unexpected $*" >&2; exit 9 ;;
esac
`;

describe("release.sh (an app's release)", () => {
    let work: string;
    let script: string;
    let upstreamFile: string;

    before(() => {
        work = fs.mkdtempSync(path.join(os.tmpdir(), "release-test-"));
        fs.mkdirSync(path.join(work, "bin"));
        fs.writeFileSync(path.join(work, "bin", "docker"), FAKE_DOCKER, { mode: 0o755 });
        script = path.join(work, "release.sh");
        fs.writeFileSync(script, shippedText(RELEASE_SCRIPT));
        upstreamFile = path.join(work, "upstreams", "backend.caddy");
    });

    after(() => fs.rmSync(work, { recursive: true, force: true }));

    function release(health: string) {
        const record = fs.mkdtempSync(path.join(work, "record-"));
        const stdin = settingsText({
            SERVICE,
            CONTAINER: NEW,
            UPSTREAM: `${NEW}:4000`,
            UPSTREAM_FILE: upstreamFile,
            CADDY_CONTAINER: SERVICE.replace("backend", "caddy"),
            CADDY_CONFIG: "/etc/caddy/Caddyfile",
            CADDY_ADMIN: "127.0.0.1:2019",
            HEALTH_TIMEOUT_SECONDS: 5,
            DRAIN_TIMEOUT_SECONDS: 5,
            STOP_TIMEOUT_SECONDS: 30,
        });
        const r = spawnSync("bash", [script, "deploy"], {
            input: stdin,
            encoding: "utf8",
            env: { ...process.env, PATH: `${path.join(work, "bin")}:${process.env.PATH}`, FAKE_RECORD: record, FAKE_HEALTH: health, FAKE_CONTAINERS: `${NEW} ${OLD}` },
        });
        const calls = fs.existsSync(path.join(record, "docker.args")) ? fs.readFileSync(path.join(record, "docker.args"), "utf8") : "";
        return { ...r, calls };
    }

    it("never switches to a release that does not become healthy: fails with its health output, the old release keeps serving", () => {
        fs.mkdirSync(path.dirname(upstreamFile), { recursive: true });
        fs.writeFileSync(upstreamFile, `reverse_proxy ${OLD}:4000\n`);
        const r = release("unhealthy running");
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`${NEW} never became healthy`));
        assert.match(r.stderr, /GET \/health: HTTP 500/);
        assert.match(r.stderr, new RegExp(`Nothing was switched: ${OLD}:4000 keeps serving`));
        assert.equal(fs.readFileSync(upstreamFile, "utf8"), `reverse_proxy ${OLD}:4000\n`);
        // Nothing but the failed release itself is touched: it is stopped (kept for its logs).
        assert.doesNotMatch(r.calls, /caddy reload|^rm/m);
        assert.deepEqual(r.calls.split("\n").filter((c) => c.startsWith("stop")), [`stop --time 10 ${NEW}`]);
    });

    it("switches Caddy to a healthy release, then drains and retires the old one, and only it", () => {
        const r = release("healthy running");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(fs.readFileSync(upstreamFile, "utf8"), `reverse_proxy ${NEW}:4000\n`);
        const calls = r.calls.split("\n");
        const reload = calls.findIndex((c) => c.includes("caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile --address 127.0.0.1:2019"));
        const drain = calls.findIndex((c) => c.includes("/reverse_proxy/upstreams"));
        const stop = calls.indexOf(`stop --time 30 ${OLD}`);
        assert.ok(reload >= 0 && drain > reload && stop > drain, `not reload, drain, then stop:\n${r.calls}`);
        assert.ok(calls.includes(`rm -f ${OLD}`), r.calls);
        assert.deepEqual(calls.filter((c) => /^(stop|rm) /.test(c)), [`stop --time 30 ${OLD}`, `rm -f ${OLD}`], "retired something else than the old release");
        assert.match(r.stdout, new RegExp(`drained ${OLD}:4000`));
    });
});
