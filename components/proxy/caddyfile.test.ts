// The generated Caddyfile is accepted by a real Caddy (`caddy adapt --validate` would
// also try to load certificates, so adapt is used: it parses every directive).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { caddyfile } from "./caddyfile";

const sample = caddyfile({
    routes: [
        { host: "staging.byte-runner.app", upstream: "frontend:3000" },
        { host: "api.staging.byte-runner.app", upstream: "backend:4000" },
    ],
    tlsMode: "internal",
    hstsMaxAgeSeconds: 31536000,
});

describe("Caddyfile", () => {
    it("is valid for a real Caddy, with one site per host", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "caddyfile-"));
        try {
            const file = path.join(dir, "Caddyfile");
            fs.writeFileSync(file, sample);
            const result = spawnSync("caddy", ["adapt", "--config", file, "--adapter", "caddyfile"], { encoding: "utf8" });
            assert.notEqual(result.error?.message.includes("ENOENT"), true, "caddy is not installed (tools/install-deps.sh installs it)");
            assert.equal(result.status, 0, result.stderr);
            const json = JSON.parse(result.stdout);
            const routes = json.apps.http.servers.srv0.routes as { match: { host: string[] }[] }[];
            assert.deepEqual(routes.map((r) => r.match[0].host[0]).sort(), ["api.staging.byte-runner.app", "staging.byte-runner.app"]);
            assert.ok(JSON.stringify(json.apps.tls).includes('"internal"'), "tls internal not applied");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("sends HSTS only when asked", () => {
        assert.match(sample, /Strict-Transport-Security "max-age=31536000; includeSubDomains"/);
        assert.doesNotMatch(caddyfile({ routes: [], tlsMode: "internal", hstsMaxAgeSeconds: 0 }), /Strict-Transport-Security/);
    });
});
