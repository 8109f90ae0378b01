// The host bootstrap, for real on this machine (the local VPS): twice, and the second
// run changes nothing. Needs the local Docker engine (tools/local-stack.sh setup).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { describe, it } from "node:test";
import { bootstrapSettings } from "../../components/host";
import { explain, run } from "./pulumi";

const SCRIPT = "components/host/bootstrap-host.sh";
/** The settings as the Host component renders them (stdin, KEY=VALUE). */
const settings = bootstrapSettings({ swapMb: 0, logMaxSizeMb: 10, logMaxFiles: 5 });

describe("components/host/bootstrap-host.sh on a real host", () => {
    it("converges: a second run reports no change and leaves daemon.json as it was", () => {
        const first = run("bash", [SCRIPT], { input: settings, timeoutMs: 10 * 60_000 });
        assert.equal(first.status, 0, explain(first));
        assert.match(first.stdout, /^bootstrap: done: \d+ change\(s\)$/m);
        const daemonJson = fs.readFileSync("/etc/docker/daemon.json", "utf8");
        assert.deepEqual(JSON.parse(daemonJson)["log-opts"], { "max-size": "10m", "max-file": "5" });
        const second = run("bash", [SCRIPT], { input: settings, timeoutMs: 10 * 60_000 });
        assert.equal(second.status, 0, explain(second));
        assert.match(second.stdout, /^bootstrap: done: 0 change\(s\)$/m, second.stdout);
        assert.equal(fs.readFileSync("/etc/docker/daemon.json", "utf8"), daemonJson);
        assert.match(fs.readFileSync("/etc/apt/apt.conf.d/20auto-upgrades", "utf8"), /Unattended-Upgrade "1"/);
    });

    it("--check names each file it writes that was edited by hand, by checksum, and is clean again after a run", () => {
        const daemonJson = fs.readFileSync("/etc/docker/daemon.json", "utf8");
        const applied = run("bash", [SCRIPT], { input: settings, timeoutMs: 10 * 60_000 });
        assert.equal(applied.status, 0, explain(applied));
        let check = run("bash", [SCRIPT, "--check"], { input: settings });
        assert.equal(check.status, 0, explain(check));
        assert.match(check.stdout, /^bootstrap: up to date/m);
        try {
            fs.writeFileSync("/etc/docker/daemon.json", daemonJson.replace(/"max-file": "\d+"/, '"max-file": "99"'));
            check = run("bash", [SCRIPT, "--check"], { input: settings });
            assert.equal(check.status, 3, explain(check));
            assert.match(check.stdout, /^bootstrap: drift: \/etc\/docker\/daemon\.json was edited \(sha256 [0-9a-f]{12}, bootstrap writes [0-9a-f]{12}\)$/m);
            assert.match(fs.readFileSync("/etc/docker/daemon.json", "utf8"), /"max-file": "99"/, "--check changed the file");
            const again = run("bash", [SCRIPT], { input: settings, timeoutMs: 10 * 60_000 });
            assert.equal(again.status, 0, explain(again));
            check = run("bash", [SCRIPT, "--check"], { input: settings });
            assert.equal(check.status, 0, explain(check));
        } finally {
            fs.writeFileSync("/etc/docker/daemon.json", daemonJson);
        }
    });

    it("refuses bad or missing settings before changing anything, naming the setting", () => {
        const before = fs.readFileSync("/etc/docker/daemon.json", "utf8");
        const cases: [string, RegExp][] = [
            [settings.replace(/^SWAP_MB=.*$/m, "SWAP_MB=lots"), /invalid setting SWAP_MB: 'lots' is not a whole number from 0 to 65536/],
            [settings.replace(/^LOG_MAX_FILES=.*$/m, "LOG_MAX_FILES=0"), /invalid setting LOG_MAX_FILES: '0' is not a whole number from 1 to 100/],
            [settings.replace(/^LOG_MAX_SIZE_MB=.*\n/m, ""), /invalid setting LOG_MAX_SIZE_MB: missing/],
        ];
        for (const [input, message] of cases) {
            const r = run("bash", [SCRIPT], { input });
            assert.equal(r.status, 2, explain(r));
            assert.match(r.stderr, message);
            assert.equal(fs.readFileSync("/etc/docker/daemon.json", "utf8"), before);
        }
    });

    it("--check-settings accepts good settings and changes nothing, even when they differ from what is applied", () => {
        const before = fs.readFileSync("/etc/docker/daemon.json", "utf8");
        const r = run("bash", [SCRIPT, "--check-settings"], { input: settings.replace(/^LOG_MAX_SIZE_MB=.*$/m, "LOG_MAX_SIZE_MB=99") });
        assert.equal(r.status, 0, explain(r));
        assert.equal(r.stdout, "bootstrap: settings ok\n");
        assert.equal(fs.readFileSync("/etc/docker/daemon.json", "utf8"), before);
    });
});
