// `pulumi preview` of the committed stacks with the real engine and every real provider,
// offline and with placeholder credentials, and with the policy pack: what pull-request checks run.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { explain, needsPlugins, run } from "./pulumi";

// Both stacks use every provider.
const SKIP = needsPlugins("command", "docker", "random", "tls", "cloudflare");

for (const stack of ["staging", "prod"]) {
    describe(`pulumi preview --stack ${stack}`, () => {
        it("finishes with no error and shows the whole stack to create", { skip: SKIP }, () => {
            const r = run("bash", ["tools/preview.sh", stack], { timeoutMs: 15 * 60_000 });
            assert.equal(r.status, 0, explain(r));
            const out = r.stdout + r.stderr;
            assert.doesNotMatch(out, /^\s*error: /m);
            for (const needle of ["docker:index/container:Container", "cloudflare:index/dnsRecord:DnsRecord", "command:remote:Command", "byte-runner-infra"]) {
                assert.ok(out.includes(needle) || out.includes(needle.split(":").pop() ?? needle), `${needle} not in the preview`);
            }
            assert.match(out, /\d+ to create/);
            // The policy pack ran, and the stack as committed breaks none of its rules (with
            // --diff a violation reads `byte-runner-infra@v0.1.0 [mandatory]  <rule>  (<resource>)...`).
            assert.match(out, /^Policy Packs run:\n\s+Name\s+Version\n\s+byte-runner-infra\|local\|\S*\/policy\s+[\d.]+$/m);
            assert.doesNotMatch(out, /byte-runner-infra@v[\d.]+ \[(mandatory|advisory)\]/);
            // The committed stack file is left exactly as it was (no encryption salt written in).
            const diff = run("git", ["diff", "--quiet", "--", `Pulumi.${stack}.yaml`]);
            assert.equal(diff.status, 0, `preview.sh changed Pulumi.${stack}.yaml`);
        });
    });
}
