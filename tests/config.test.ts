// Config validation: each malformed configuration is rejected with its exact message,
// every problem at once, and nothing but the stack itself is registered.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, it } from "node:test";
import { ConfigError, parseConfig } from "../config";
import { committedConfig, StackConfigInput } from "./graph";

const STACK = "staging";
const K = "byte-runner-infra:";

type Mutation = (c: StackConfigInput) => void;
const set = (key: string, value: string): Mutation => (c) => {
    c.values[key] = value;
};
const unset = (key: string): Mutation => (c) => {
    delete c.values[key];
    c.secretKeys = c.secretKeys.filter((k) => k !== key);
};
const plain = (key: string): Mutation => (c) => {
    c.secretKeys = c.secretKeys.filter((k) => k !== key);
};

function configWith(...mutations: Mutation[]): StackConfigInput {
    const c = committedConfig(STACK);
    for (const m of mutations) m(c);
    return c;
}

const cases: [string, Mutation[], string[]][] = [
    ["missing domain", [unset("domain")], [`${K}domain (stack staging): required (The product's apex domain, e.g. byte-runner.app), got nothing; set it with \`pulumi config set domain ...\``]],
    ["missing host address", [unset("host.address")], [`${K}host.address (stack staging): required (Public IPv4/IPv6 address or DNS name of the VPS), got nothing; set it with \`pulumi config set host.address ...\``]],
    ["missing ssh private key", [unset("host.sshPrivateKey")], [`${K}host.sshPrivateKey (stack staging): required (OpenSSH private key (PEM/OpenSSH format) that logs in as host.sshUser), got nothing; set it with \`pulumi config set --secret host.sshPrivateKey ...\``]],
    ["missing environment", [unset("environment")], [`${K}environment (stack staging): required (Which environment this stack is: prod, staging or local (hostnames and NODE_ENV follow from it)), got nothing; set it with \`pulumi config set environment ...\``]],
    ["plain value where a secret is required", [plain("host.sshPrivateKey")], [`${K}host.sshPrivateKey (stack staging): expected a secret, got a plain value (set it with \`pulumi config set --secret host.sshPrivateKey ...\`)`]],
    ["secret that is not a private key", [set("host.sshPrivateKey", "hunter2")], [`${K}host.sshPrivateKey (stack staging): expected an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----), got something else`]],
    ["unknown environment", [set("environment", "production")], [`${K}environment (stack staging): expected one of prod, staging, local, got "production"`]],
    ["domain with an underscore", [set("domain", "byte_runner.app")], [`${K}domain (stack staging): expected a lower-case DNS hostname such as example.com, got "byte_runner.app"`]],
    ["domain without a dot", [set("domain", "localhost")], [`${K}domain (stack staging): expected a lower-case DNS hostname such as example.com, got "localhost"`]],
    ["frontend host starting with a hyphen", [set("frontendHost", "-www.byte-runner.app")], [`${K}frontendHost (stack staging): expected a lower-case DNS hostname such as example.com, got "-www.byte-runner.app"`]],
    ["api host equal to frontend host", [set("apiHost", "staging.byte-runner.app")], [`${K}apiHost (stack staging): expected a hostname different from frontendHost, got "staging.byte-runner.app" for both`]],
    ["host address that is no address", [set("host.address", "300.1.1.1")], [`${K}host.address (stack staging): expected an IPv4/IPv6 address or a DNS name, got "300.1.1.1"`]],
    ["ssh port 0", [set("host.sshPort", "0")], [`${K}host.sshPort (stack staging): expected an integer from 1 to 65535, got 0`]],
    ["ssh port too large", [set("host.sshPort", "70000")], [`${K}host.sshPort (stack staging): expected an integer from 1 to 65535, got 70000`]],
    ["ssh port that is a word", [set("host.sshPort", "twenty-two")], [`${K}host.sshPort (stack staging): expected an integer from 1 to 65535, got "twenty-two"`]],
    ["backend port with a fraction", [set("backend.port", "4000.5")], [`${K}backend.port (stack staging): expected an integer from 1 to 65535, got "4000.5"`]],
    ["host key that is no key", [set("host.sshHostKey", "not a key")], [`${K}host.sshHostKey (stack staging): expected a public host key line such as \`ssh-ed25519 AAAA...\` (from ssh-keyscan), got something else`]],
    ["ssh user with a space", [set("host.sshUser", "deploy user")], [`${K}host.sshUser (stack staging): expected a Unix user name, got "deploy user"`]],
    ["pool size 0", [set("pooler.defaultPoolSize", "0")], [`${K}pooler.defaultPoolSize (stack staging): expected an integer from 1 to 10000, got 0`]],
    ["pool size above max_connections", [set("pooler.defaultPoolSize", "60")], [`${K}pooler.defaultPoolSize (stack staging): expected at most 45 (postgres.maxConnections 60 minus supertokens.poolSize 10 minus 5 reserved), got 60`]],
    ["both image and build context", [set("backend.buildContext", "../byte-runner/backend")], [`${K}backend.image (stack staging): expected exactly one of backend.image and backend.buildContext, got both`]],
    ["neither image nor build context", [unset("frontend.image")], [`${K}frontend.image (stack staging): expected exactly one of frontend.image and frontend.buildContext, got neither`]],
    ["image tagged latest", [set("backend.image", "ghcr.io/byte-runner/backend:latest")], [`${K}backend.image (stack staging): expected an image pinned by version (name:tag, tag not latest, or @sha256 digest), got "ghcr.io/byte-runner/backend:latest"`]],
    ["untagged image", [set("supertokens.image", "registry.supertokens.io/supertokens/supertokens-postgresql")], [`${K}supertokens.image (stack staging): expected an image pinned by version (name:tag, tag not latest, or @sha256 digest), got "registry.supertokens.io/supertokens/supertokens-postgresql"`]],
    ["postgres image of another major", [set("postgres.image", "postgres:16.4")], [`${K}postgres.image (stack staging): expected an image of major version 15 (postgres.majorVersion), got "postgres:16.4"`]],
    ["postgres major out of range", [set("postgres.majorVersion", "12"), set("postgres.image", "postgres:12.20")], [`${K}postgres.majorVersion (stack staging): expected an integer from 13 to 18, got 12`]],
    ["unknown key", [set("pooler.poolSize", "20")], [`${K}pooler.poolSize (stack staging): unknown key; expected one of the keys declared in Pulumi.yaml (see INFRASTRUCTURE.md)`]],
    ["more CPUs than the host has", [set("postgres.cpus", "4")], [`${K}postgres.cpus (stack staging): expected a number of CPUs greater than 0 and at most host.cpus (2), got "4"`]],
    ["CPUs that are no number", [set("backend.cpus", "two")], [`${K}backend.cpus (stack staging): expected a number of CPUs greater than 0 and at most host.cpus (2), got "two"`]],
    ["limits that do not fit the host", [set("host.memoryMb", "2048")], [`${K}host.memoryMb (stack staging): expected at least the sum of the containers' memory limits (3072 MiB), got 2048`]],
    ["unknown TLS mode", [set("proxy.tlsMode", "letsencrypt")], [`${K}proxy.tlsMode (stack staging): expected one of origin-ca, acme, internal, got "letsencrypt"`]],
    ["unknown DNS target", [set("dns.target", "railway")], [`${K}dns.target (stack staging): expected one of legacy, vps, got "railway"`]],
    ["zone id that is no zone id", [set("dns.zoneId", "byte-runner.app")], [`${K}dns.zoneId (stack staging): expected a Cloudflare zone id (32 hex characters), got "byte-runner.app"`]],
    ["legacy target missing while DNS points at the old hosts", [unset("dns.legacyApiTarget")], [`${K}dns.legacyApiTarget (stack staging): required while dns.target is legacy (the old host to point at); got nothing`]],
    ["legacy target that is no hostname", [set("dns.legacyFrontendTarget", "https://x.up.railway.app")], [`${K}dns.legacyFrontendTarget (stack staging): expected a lower-case DNS hostname such as example.com, got "https://x.up.railway.app"`]],
    ["a flag that is no boolean", [set("dns.proxied", "yes")], [`${K}dns.proxied (stack staging): expected true or false, got "yes"`]],
    ["admin CIDR with a bad prefix", [set("firewall.adminCidrs", '["198.51.100.0/24","10.0.0.0/33"]')], [`${K}firewall.adminCidrs (stack staging): expected a list of IPv4/IPv6 CIDRs such as 198.51.100.0/24, got "10.0.0.0/33"`]],
    ["admin CIDRs that are no list", [set("firewall.adminCidrs", "198.51.100.0/24")], [`${K}firewall.adminCidrs (stack staging): expected a list of IPv4/IPv6 CIDRs such as 198.51.100.0/24 (pulumi config set --path 'firewall.adminCidrs[0]' ...), got "198.51.100.0/24"`]],
    ["ACME behind the Cloudflare proxy", [set("proxy.tlsMode", "acme")], [`${K}proxy.tlsMode (stack staging): acme needs dns.proxied: false (the ACME challenge must reach Caddy directly); use origin-ca for proxied records`]],
    ["Origin CA without a zone", [set("dns.zoneId", "")], [`${K}proxy.tlsMode (stack staging): origin-ca needs dns.zoneId (the certificate is issued for the zone); set dns.zoneId or use acme or internal`]],
    ["Cloudflare-only firewall with records not proxied", [set("dns.proxied", "false"), set("proxy.tlsMode", "acme")], [`${K}firewall.cloudflareOnly (stack staging): expected false while dns.proxied is false (visitors would come straight to the VPS and be dropped), got true`]],
    ["migration without a source", [set("migration.runId", "2026-12-01")], [`${K}migration.sourceDatabaseUrl (stack staging): required when migration.runId is set; set it with \`pulumi config set --secret migration.sourceDatabaseUrl ...\``]],
    ["migration source in plain text", [set("migration.runId", "r1"), set("migration.sourceDatabaseUrl", "postgresql://postgres:pw@db.example.supabase.co:5432/postgres")], [`${K}migration.sourceDatabaseUrl (stack staging): expected a secret, got a plain value (set it with \`pulumi config set --secret migration.sourceDatabaseUrl ...\`)`]],
    ["slow-query threshold below -1", [set("postgres.logMinDurationMs", "-5")], [`${K}postgres.logMinDurationMs (stack staging): expected an integer from -1 to 3600000, got -5`]],
    ["health path without a slash", [set("backend.healthPath", "health")], [`${K}backend.healthPath (stack staging): expected a path starting with /, got "health"`]],
    [
        "several problems reported together",
        [unset("domain"), set("host.sshPort", "0"), set("pooler.poolSize", "1")],
        [
            `${K}pooler.poolSize (stack staging): unknown key; expected one of the keys declared in Pulumi.yaml (see INFRASTRUCTURE.md)`,
            `${K}domain (stack staging): required (The product's apex domain, e.g. byte-runner.app), got nothing; set it with \`pulumi config set domain ...\``,
            `${K}host.sshPort (stack staging): expected an integer from 1 to 65535, got 0`,
        ],
    ],
];

describe("config validation", () => {
    it("refuses a prod cutover without a verified migration, unless overridden", () => {
        const prod = committedConfig("prod");
        prod.values["dns.target"] = "vps";
        assert.throws(
            () => parseConfig(prod.values, new Set(prod.secretKeys), "prod"),
            (e: ConfigError) =>
                e.problems.includes(
                    `${K}dns.target (stack prod): expected legacy until the data migration has been verified in this stack (set migration.runId), or dns.allowUnverifiedCutover: true; got "vps"`,
                ),
        );
        prod.values["dns.allowUnverifiedCutover"] = "true";
        assert.doesNotThrow(() => parseConfig(prod.values, new Set(prod.secretKeys), "prod"));
    });

    it("accepts the committed staging and prod configs", () => {
        for (const stack of ["staging", "prod"]) {
            const c = committedConfig(stack);
            assert.doesNotThrow(() => parseConfig(c.values, new Set(c.secretKeys), stack));
        }
    });

    it(`has at least 25 malformed configurations (${cases.length})`, () => {
        assert.ok(cases.length >= 25);
    });

    for (const [title, mutations, expected] of cases) {
        it(`rejects: ${title}`, async () => {
            const c = configWith(...mutations);
            let error: unknown;
            try {
                parseConfig(c.values, new Set(c.secretKeys), STACK);
            } catch (e) {
                error = e;
            }
            assert.ok(error instanceof ConfigError, "parseConfig must throw a ConfigError");
            assert.deepEqual(error.problems, expected);
            assert.ok(error.message.startsWith(`Invalid configuration for stack ${STACK}:\n  - `));
            // The message never carries a secret value.
            for (const k of c.secretKeys) assert.ok(!error.message.includes(c.values[k]), `message leaks ${k}`);
        });
    }

    it("stops the program before any resource is registered", () => {
        const configs = cases.map(([, mutations]) => configWith(...mutations));
        const child = spawnSync(process.execPath, ["--import", "tsx", path.join(__dirname, "run-bad-configs.ts")], {
            input: JSON.stringify({ stack: STACK, configs }),
            encoding: "utf8",
            timeout: 120_000,
        });
        assert.equal(child.status, 0, child.stderr);
        const results = JSON.parse(child.stdout) as { error: string | null; registered: string[] }[];
        assert.equal(results.length, cases.length);
        results.forEach((result, i) => {
            const [title, , expected] = cases[i];
            assert.ok(result.error?.includes(expected[0]), `${title}: the program did not stop with its message (got ${result.error})`);
            assert.deepEqual(
                result.registered.filter((t) => t !== "pulumi:pulumi:Stack"),
                [],
                `${title}: resources registered despite bad config`,
            );
        });
    });
});
