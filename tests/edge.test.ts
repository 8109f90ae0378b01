// The edge, from the graph: a DNS flip changes DNS records and nothing else, the prod
// cutover waits for the migration's verify step, and each TLS mode wires Caddy right.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildGraph, committedConfig, Graph, GraphResource, SECRET, StackConfigInput } from "../tools/graph";

const DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord";

function withValues(stack: string, values: Record<string, string>, secrets: Record<string, string> = {}): StackConfigInput {
    const c = committedConfig(stack);
    Object.assign(c.values, values, secrets);
    c.secretKeys.push(...Object.keys(secrets));
    return c;
}

/** Resources whose inputs differ between two graphs (added, removed or changed), by name. */
function changed(a: Graph, b: Graph): string[] {
    const key = (r: GraphResource) => `${r.type}::${r.name}`;
    const left = new Map(a.resources.map((r) => [key(r), JSON.stringify(r.revealed)]));
    const right = new Map(b.resources.map((r) => [key(r), JSON.stringify(r.revealed)]));
    return [...new Set([...left.keys(), ...right.keys()])].filter((k) => left.get(k) !== right.get(k)).sort();
}

const records = (g: Graph) =>
    Object.fromEntries(g.resources.filter((r) => r.type === DNS_RECORD).map((r) => [r.name, `${r.inputs.type} ${r.inputs.name} -> ${r.inputs.content}`]));

const MIGRATION = { "migrationRunId": "2026-12-01" };
const SOURCE = { "migrationSourceDatabaseUrl": "postgresql://postgres.ref:supabase-secret-pw@aws-0-eu-central-1.pooler.supabase.com:5432/postgres" };

for (const stack of ["staging", "prod"]) {
    describe(`DNS cutover in ${stack}`, () => {
        it("flipping dnsTarget changes the DNS records and nothing else, and flipping back restores them", async () => {
            const legacy = await buildGraph(stack, withValues(stack, { ...MIGRATION }, SOURCE));
            const vps = await buildGraph(stack, withValues(stack, { ...MIGRATION, "dnsTarget": "vps" }, SOURCE));
            const diff = changed(legacy, vps);
            assert.ok(diff.length >= 2, "the flip must change records");
            for (const k of diff) assert.ok(k.startsWith(`${DNS_RECORD}::`), `the flip changes ${k}`);
            const back = await buildGraph(stack, withValues(stack, { ...MIGRATION }, SOURCE));
            assert.deepEqual(changed(legacy, back), []);
        });

        it("points at the old hosts (CNAME) with legacy and at the VPS (A) with vps, proxied", async () => {
            const legacy = records(await buildGraph(stack));
            const vps = records(await buildGraph(stack, withValues(stack, { ...MIGRATION, "dnsTarget": "vps" }, SOURCE)));
            const host = stack === "prod" ? "byte-runner.app" : "staging.byte-runner.app";
            const address = stack === "prod" ? "203.0.113.10" : "203.0.113.20";
            assert.match(legacy["dns-frontend"], new RegExp(`^CNAME ${host.replace(/\./g, "\\.")} -> byte-runner-frontend-.*\\.up\\.railway\\.app$`));
            assert.equal(vps["dns-frontend"], `A ${host} -> ${address}`);
            assert.equal(vps["dns-api"], `A ${stack === "prod" ? "api.byte-runner.app" : "api-staging.byte-runner.app"} -> ${address}`);
            if (stack === "prod") assert.equal(vps["dns-www"], "CNAME www.byte-runner.app -> byte-runner.app");
            for (const r of (await buildGraph(stack)).resources.filter((x) => x.type === DNS_RECORD)) {
                assert.equal(r.inputs.proxied, true);
                assert.equal(r.inputs.ttl, 1);
            }
        });
    });
}

describe("prod cutover gate", () => {
    it("makes every record wait for the migration's verify step when pointing at the VPS", async () => {
        const g = await buildGraph("prod", withValues("prod", { ...MIGRATION, "dnsTarget": "vps" }, SOURCE));
        const verify = g.resources.find((r) => r.name === "migration-verify");
        assert.ok(verify, "no verify step");
        for (const r of g.resources.filter((x) => x.type === DNS_RECORD)) assert.ok(r.dependsOn.includes("migration-verify"), `${r.name} does not wait`);
        // Steps in order, each once per run id, the source URL only in the secret stdin.
        assert.ok(g.resources.find((r) => r.name === "migration-restore")?.dependsOn.includes("migration-dump"));
        // The backend exists first: the steps stop it from restore to verify.
        assert.ok(g.resources.find((r) => r.name === "migration-dump")?.dependsOn.includes("backend"));
        assert.match(String(g.resources.find((r) => r.name === "migration-restore")?.revealed.stdin), /^SERVICE=byte-runner-prod-backend$/m);
        assert.ok(verify.dependsOn.includes("migration-restore"));
        for (const step of ["dump", "restore", "verify"]) {
            const r = g.resources.find((x) => x.name === `migration-${step}`);
            assert.deepEqual(r?.inputs.triggers, ["2026-12-01"]);
            assert.equal(r?.inputs.stdin, SECRET);
            assert.equal(r?.inputs.delete, undefined, "a migration step must never delete anything");
        }
        assert.ok(!JSON.stringify(g.resources.map((r) => r.inputs)).includes("supabase-secret-pw"));
    });

    it("with migrationMode replicate: sync runs alone, cutover follows it and is what the records wait for, abort replaces both", async () => {
        const replicate = { ...MIGRATION, "migrationMode": "replicate", "migrationFreezeRoles": "authenticator,postgres" };
        const steps = (graph: Graph) => graph.resources.filter((r) => r.name.startsWith("migration-") && !r.name.includes("-upload-")).map((r) => r.name).sort();
        const sync = await buildGraph("prod", withValues("prod", { ...replicate, "migrationPhase": "sync" }, SOURCE));
        assert.deepEqual(steps(sync), ["migration-sync"]);
        const cutover = await buildGraph("prod", withValues("prod", { ...replicate, "migrationPhase": "cutover", "dnsTarget": "vps" }, SOURCE));
        assert.deepEqual(steps(cutover), ["migration-cutover", "migration-sync"]);
        const step = (graph: Graph, name: string) => graph.resources.find((r) => r.name === name);
        assert.ok(step(cutover, "migration-cutover")?.dependsOn.includes("migration-sync"));
        // Same run id: the sync that ran in the sync phase is kept, not run again.
        assert.deepEqual(step(cutover, "migration-sync")?.inputs.triggers, ["2026-12-01"]);
        const stdin = String(step(cutover, "migration-cutover")?.revealed.stdin);
        for (const line of [/^MODE=replicate$/m, /^FREEZE_ROLES=authenticator,postgres$/m, /^CUTOVER_MAX_LAG_BYTES=16777216$/m, /^SERVICE=byte-runner-prod-backend$/m]) assert.match(stdin, line);
        assert.equal(step(cutover, "migration-cutover")?.inputs.stdin, SECRET);
        for (const r of cutover.resources.filter((x) => x.type === DNS_RECORD)) assert.ok(r.dependsOn.includes("migration-cutover"), `${r.name} does not wait for the cutover`);
        const abort = await buildGraph("prod", withValues("prod", { ...replicate, "migrationPhase": "abort" }, SOURCE));
        assert.deepEqual(steps(abort), ["migration-abort"]);
        for (const graph of [sync, cutover, abort]) for (const name of steps(graph)) assert.equal(step(graph, name)?.inputs.delete, undefined, `${name} must never delete anything`);
    });

    it("with the SuperTokens source set, the auth data gets its own chain and the records wait for both verifies", async () => {
        const auth = { "migrationAuthSourceDatabaseUrl": "postgresql://st:supertokens-secret-pw@10.0.0.9:5432/supertokens_export" };
        const g = await buildGraph("prod", withValues("prod", { ...MIGRATION, "dnsTarget": "vps" }, { ...SOURCE, ...auth }));
        const forced = await buildGraph("staging", withValues("staging", { ...MIGRATION, "migrationForce": "true" }, { ...SOURCE, ...auth }));
        const stdinOf = (graph: Graph, name: string) => String(graph.resources.find((x) => x.name === name)?.revealed.stdin);
        assert.match(stdinOf(forced, "migration-restore"), /^FORCE=1$/m);
        assert.match(stdinOf(forced, "migration-auth-restore"), /^FORCE=0$/m, "migrationForce must never replace the core's users");
        for (const r of g.resources.filter((x) => x.type === DNS_RECORD)) {
            assert.ok(r.dependsOn.includes("migration-verify") && r.dependsOn.includes("migration-auth-verify"), `${r.name} does not wait for both`);
        }
        const step = (name: string) => g.resources.find((x) => x.name === name);
        // The core exists first (the step stops and restarts it), the steps follow one another.
        assert.ok(step("migration-auth-dump")?.dependsOn.includes("supertokens"));
        assert.ok(step("migration-auth-restore")?.dependsOn.includes("migration-auth-dump"));
        assert.ok(step("migration-auth-verify")?.dependsOn.includes("migration-auth-restore"));
        for (const name of ["migration-auth-dump", "migration-auth-restore", "migration-auth-verify"]) {
            const r = step(name);
            assert.deepEqual(r?.inputs.triggers, ["2026-12-01-auth"]);
            assert.equal(r?.inputs.stdin, SECRET);
            assert.equal(r?.inputs.delete, undefined, "a migration step must never delete anything");
            assert.match(String(r?.revealed.stdin), /^SERVICE=byte-runner-prod-supertokens$/m, "the step does not know the core's container");
            assert.match(String(r?.revealed.stdin), /^CHAIN=auth$/m);
        }
        const env = String(step("migration-auth-restore")?.revealed.stdin);
        assert.match(env, /^TARGET_DATABASE_URL=postgresql:\/\/postgres:[^@]+@postgres:5432\/supertokens$/m);
        assert.match(env, /^APP_ROLE=supertokens$/m);
        assert.match(env, /^REPLACE_IF_EMPTY=public\.all_auth_recipe_users$/m);
        assert.ok(!JSON.stringify(g.resources.map((r) => r.inputs)).includes("supertokens-secret-pw"));
        // Without it, no auth chain.
        const appOnly = await buildGraph("prod", withValues("prod", { ...MIGRATION }, SOURCE));
        assert.equal(appOnly.resources.filter((r) => r.name.startsWith("migration-auth")).length, 0);
    });

    it("with the override, records do not wait and nothing else changes", async () => {
        const g = await buildGraph("prod", withValues("prod", { "dnsTarget": "vps", "dnsAllowUnverifiedCutover": "true" }));
        for (const r of g.resources.filter((x) => x.type === DNS_RECORD)) assert.deepEqual(r.dependsOn, []);
        assert.equal(g.resources.filter((r) => r.type.startsWith("byte-runner:migration")).length, 0);
    });
});

describe("TLS modes", () => {
    const caddy = (g: Graph) => g.resources.find((r) => r.type === "docker:index/container:Container" && r.name === "proxy");
    const caddyfileOf = (g: Graph) => String((caddy(g)?.inputs.uploads as { file: string; content: string }[]).find((u) => u.file === "/etc/caddy/Caddyfile")?.content);

    it("origin-ca: key and CSR made as code, certificate from Cloudflare, key only as a secret", async () => {
        const g = await buildGraph("prod");
        const types = g.resources.map((r) => r.type);
        for (const t of ["tls:index/privateKey:PrivateKey", "tls:index/certRequest:CertRequest", "cloudflare:index/originCaCertificate:OriginCaCertificate"]) {
            assert.ok(types.includes(t), `missing ${t}`);
        }
        const cert = g.resources.find((r) => r.type === "cloudflare:index/originCaCertificate:OriginCaCertificate");
        assert.deepEqual(cert?.inputs.hostnames, ["api.byte-runner.app", "byte-runner.app", "www.byte-runner.app"]);
        assert.equal(g.resources.find((r) => r.type === "cloudflare:index/zoneSetting:ZoneSetting"), undefined, "zone-wide SSL mode touched by default");
        const strict = await buildGraph("prod", withValues("prod", { dnsManageZoneSettings: "true" }));
        assert.equal(strict.resources.find((r) => r.type === "cloudflare:index/zoneSetting:ZoneSetting")?.inputs.value, "strict");
        const uploads = caddy(g)?.inputs.uploads as { file: string; content: string; permissions: string }[];
        const key = uploads.find((u) => u.file === "/etc/caddy/tls/origin.key");
        assert.deepEqual({ content: key?.content, permissions: key?.permissions }, { content: SECRET, permissions: "0600" });
        assert.match(caddyfileOf(g), /^\ttls \/etc\/caddy\/tls\/origin\.pem \/etc\/caddy\/tls\/origin\.key$/m);
        assert.match(caddyfileOf(g), /^www\.byte-runner\.app \{[^}]*redir https:\/\/byte-runner\.app\{uri\} permanent/m);
    });

    it("acme: records not proxied, no tls line, Caddy's automatic HTTPS with the contact e-mail", async () => {
        const g = await buildGraph(
            "staging",
            withValues("staging", { "proxyTlsMode": "acme", "dnsProxied": "false", "firewallCloudflareOnly": "false", "proxyAcmeEmail": "ops@byte-runner.app" }),
        );
        assert.doesNotMatch(caddyfileOf(g), /^\ttls /m);
        assert.match(caddyfileOf(g), /^\temail ops@byte-runner\.app$/m);
        assert.equal(g.resources.filter((r) => r.type.startsWith("tls:")).length, 0);
        for (const r of g.resources.filter((x) => x.type === DNS_RECORD)) assert.deepEqual([r.inputs.proxied, r.inputs.ttl], [false, 300]);
    });

    it("internal: Caddy's own CA, no certificate resources, no Cloudflare needed", async () => {
        const g = await buildGraph("staging", withValues("staging", { "proxyTlsMode": "internal", "dnsZoneId": "", "firewallCloudflareOnly": "false" }));
        assert.match(caddyfileOf(g), /^\ttls internal$/m);
        assert.equal(g.resources.filter((r) => r.type.startsWith("cloudflare:") || r.type.startsWith("tls:")).length, 0);
    });
});

describe("firewall in the stack", () => {
    it("applies the firewall script with settings on stdin, Cloudflare ranges from the committed list", async () => {
        const g = await buildGraph("prod");
        const fw = g.resources.find((r) => r.name === "firewall-apply");
        assert.ok(fw);
        const stdin = String(fw.inputs.stdin);
        assert.match(stdin, /^SSH_PORT=22$/m);
        assert.match(stdin, /^PUBLIC_PORTS=80 443$/m);
        assert.match(stdin, /^CLOUDFLARE_ONLY=1$/m);
        assert.match(stdin, /^CLOUDFLARE_RANGES=(\S+\/\d+ )+\S+\/\d+$/m);
        assert.match(stdin, /^PERSIST_DIR=\/etc\/byte-runner$/m);
        assert.match(stdin, /^ALLOW_LOCKOUT=0$/m);
        // Run from the file the upload wrote, which it waits for.
        assert.match(String(fw.inputs.create), /\/var\/lib\/byte-runner\/scripts\/firewall\.sh-[0-9a-f]{16} [0-9a-f]{64} .* '--apply'$/);
        assert.ok(fw.dependsOn.includes("firewall-upload-firewall.sh"));
        // Changes re-apply as an update; a replacement would run the old resource's --remove
        // after the new rules went in and leave the host open.
        assert.equal(fw.inputs.triggers, undefined);
        assert.match(String(fw.inputs.create), /SSH_CONNECTION="\$\{SSH_CONNECTION:-\}"/);
        assert.match(String(fw.inputs.delete), /--remove/);
        assert.ok(fw.dependsOn.includes("vps-bootstrap"));
    });
});
