// The host bootstrap, for real on this machine (the local VPS): twice, and the second
// run changes nothing. Needs the local Docker engine (tools/local-stack.sh setup).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { explain, run } from "./pulumi";

describe("components/host/bootstrap-host.sh on a real host", () => {
    it("converges: a second run reports no change and leaves daemon.json as it was", () => {
        const env = { SWAP_MB: "0", LOG_MAX_SIZE_MB: "10", LOG_MAX_FILES: "5" };
        const args = ["-c", `${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(" ")} bash components/host/bootstrap-host.sh`];
        const first = run("bash", args, { timeoutMs: 10 * 60_000 });
        assert.equal(first.status, 0, explain(first));
        assert.match(first.stdout, /^bootstrap: done: \d+ change\(s\)$/m);
        const daemonJson = fs.readFileSync("/etc/docker/daemon.json", "utf8");
        assert.deepEqual(JSON.parse(daemonJson)["log-opts"], { "max-size": "10m", "max-file": "5" });
        const second = run("bash", args, { timeoutMs: 10 * 60_000 });
        assert.equal(second.status, 0, explain(second));
        assert.match(second.stdout, /^bootstrap: done: 0 change\(s\)$/m, second.stdout);
        assert.equal(fs.readFileSync("/etc/docker/daemon.json", "utf8"), daemonJson);
        assert.match(fs.readFileSync("/etc/apt/apt.conf.d/20auto-upgrades", "utf8"), /Unattended-Upgrade "1"/);
    });

    it("refuses bad settings before changing anything", () => {
        const r = run("bash", ["-c", "SWAP_MB=lots bash components/host/bootstrap-host.sh"]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, /settings must be whole numbers, got 'lots'/);
    });
});
