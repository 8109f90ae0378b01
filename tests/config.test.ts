// Config validation: each malformed configuration is rejected with its exact message,
// every problem at once, and nothing but the stack itself is registered.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { CONFIG_KEYS, ConfigError, containerMemoryMb, parseConfig, validateConfig } from "../config";
import { buildGraph, committedConfig, StackConfigInput } from "../tools/graph";

const STACK = "staging";
const K = "byte-runner-infra:";

type Mutation = (c: StackConfigInput) => void;
const set = (key: string, value: string): Mutation => (c) => {
    c.values[key] = value;
};
const setSecret = (key: string, value: string): Mutation => (c) => {
    c.values[key] = value;
    c.secretKeys.push(key);
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

// Real keys, made here: a value must be what it claims to be, not only shaped like it.
const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "config-test-keys-"));
function sshKey(name: string, ...args: string[]): { privateKey: string; publicKey: string } {
    const file = path.join(keyDir, name);
    const made = spawnSync("ssh-keygen", ["-q", "-C", "", "-f", file, ...args], { encoding: "utf8" });
    assert.equal(made.status, 0, `ssh-keygen (openssh-client) must be installed: ${made.stderr ?? made.error}`);
    return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}
const ed25519 = sshKey("ed25519", "-t", "ed25519", "-N", "");
const encrypted = sshKey("encrypted", "-t", "ed25519", "-N", "a passphrase");
fs.rmSync(keyDir, { recursive: true, force: true });
const [, ed25519Blob] = ed25519.publicKey.split(" ");
/** The private key with its second-to-last line of base64 gone, as a bad copy and paste leaves it. */
const truncatedKey = (() => {
    const lines = ed25519.privateKey.trim().split("\n");
    lines.splice(lines.length - 2, 1);
    return `${lines.join("\n")}\n`;
})();

const cases: [string, Mutation[], string[]][] = [
    ["missing domain", [unset("domain")], [`${K}domain (stack staging): required (The product's apex domain, e.g. byte-runner.app), got nothing; set it with \`pulumi config set domain ...\``]],
    ["missing host address", [unset("hostAddress")], [`${K}hostAddress (stack staging): required (Public IPv4/IPv6 address or DNS name of the VPS), got nothing; set it with \`pulumi config set hostAddress ...\``]],
    ["missing ssh private key", [unset("hostSshPrivateKey")], [`${K}hostSshPrivateKey (stack staging): required (OpenSSH private key (PEM/OpenSSH format) that logs in as hostSshUser), got nothing; set it with \`pulumi config set --secret hostSshPrivateKey ...\``]],
    ["missing environment", [unset("environment")], [`${K}environment (stack staging): required (Which environment this stack is: prod, staging or local (hostnames and NODE_ENV follow from it)), got nothing; set it with \`pulumi config set environment ...\``]],
    ["plain value where a secret is required", [plain("hostSshPrivateKey")], [`${K}hostSshPrivateKey (stack staging): expected a secret, got a plain value (set it with \`pulumi config set --secret hostSshPrivateKey ...\`)`]],
    ["secret that is not a private key", [set("hostSshPrivateKey", "hunter2")], [`${K}hostSshPrivateKey (stack staging): expected a complete, unencrypted OpenSSH or PEM private key, got something that is not a private key (-----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE KEY-----)`]],
    ["unknown environment", [set("environment", "production")], [`${K}environment (stack staging): expected one of prod, staging, local, got "production"`]],
    ["domain with an underscore", [set("domain", "byte_runner.app")], [`${K}domain (stack staging): expected a lower-case DNS hostname such as example.com, got "byte_runner.app"`]],
    ["domain without a dot", [set("domain", "localhost")], [`${K}domain (stack staging): expected a lower-case DNS hostname such as example.com, got "localhost"`]],
    ["frontend host starting with a hyphen", [set("frontendHost", "-www.byte-runner.app")], [`${K}frontendHost (stack staging): expected a lower-case DNS hostname such as example.com, got "-www.byte-runner.app"`]],
    ["api host equal to frontend host", [set("apiHost", "staging.byte-runner.app")], [`${K}apiHost (stack staging): expected a hostname different from frontendHost, got "staging.byte-runner.app" for both`]],
    ["host address that is no address", [set("hostAddress", "300.1.1.1")], [`${K}hostAddress (stack staging): expected an IPv4/IPv6 address or a DNS name, got "300.1.1.1"`]],
    ["ssh port 0", [set("hostSshPort", "0")], [`${K}hostSshPort (stack staging): expected an integer from 1 to 65535, got 0`]],
    ["ssh port too large", [set("hostSshPort", "70000")], [`${K}hostSshPort (stack staging): expected an integer from 1 to 65535, got 70000`]],
    ["ssh port that is a word", [set("hostSshPort", "twenty-two")], [`${K}hostSshPort (stack staging): expected an integer from 1 to 65535, got "twenty-two"`]],
    ["backend port with a fraction", [set("backendPort", "4000.5")], [`${K}backendPort (stack staging): expected an integer from 1 to 65535, got "4000.5"`]],
    ["private key cut short", [setSecret("hostSshPrivateKey", truncatedKey)], [`${K}hostSshPrivateKey (stack staging): expected a complete, unencrypted OpenSSH or PEM private key, got an OpenSSH private key cut short or with bytes after its end`]],
    ["private key behind a passphrase", [setSecret("hostSshPrivateKey", encrypted.privateKey)], [`${K}hostSshPrivateKey (stack staging): expected a complete, unencrypted OpenSSH or PEM private key, got an encrypted private key (nothing can type its passphrase): remove the passphrase with ssh-keygen -p`]],
    ["host key whose key is of another type than it names", [set("hostSshHostKey", `ssh-rsa ${ed25519Blob}`)], [`${K}hostSshHostKey (stack staging): expected a public host key line such as \`ssh-ed25519 AAAA...\` (from ssh-keyscan), got a line that names ssh-rsa over a key of type "ssh-ed25519"`]],
    ["host key cut short", [set("hostSshHostKey", `ssh-ed25519 ${Buffer.from(ed25519Blob, "base64").subarray(0, 40).toString("base64")}`)], [`${K}hostSshHostKey (stack staging): expected a public host key line such as \`ssh-ed25519 AAAA...\` (from ssh-keyscan), got an ssh-ed25519 key without its 32 bytes of key`]],
    ["host CPUs with a fraction (blames hostCpus only, not every CPU limit)", [set("hostCpus", "1.5")], [`${K}hostCpus (stack staging): expected an integer from 1 to 512, got "1.5"`]],
    ["host key that is no key", [set("hostSshHostKey", "not a key")], [`${K}hostSshHostKey (stack staging): expected a public host key line such as \`ssh-ed25519 AAAA...\` (from ssh-keyscan), got something that is not \`type base64\` as ssh-keyscan prints it`]],
    ["ssh user with a space", [set("hostSshUser", "deploy user")], [`${K}hostSshUser (stack staging): expected a Unix user name, got "deploy user"`]],
    ["pool size 0", [set("poolerDefaultPoolSize", "0")], [`${K}poolerDefaultPoolSize (stack staging): expected an integer from 1 to 10000, got 0`]],
    [
        "pool size that does not fit in max_connections with the reserve pool, SuperTokens and the held connections",
        [set("poolerDefaultPoolSize", "41")],
        [`${K}poolerDefaultPoolSize (stack staging): expected at most 40 (postgresMaxConnections 60 minus PgBouncer's reserve pool 5 minus supertokensPoolSize 10 minus 5 held for superusers, monitoring and backups), or raise postgresMaxConnections; got 41`],
    ],
    [
        "max_client_conn below two backend containers' pools during a deploy",
        [set("poolerMaxClientConn", "41")],
        [`${K}poolerMaxClientConn (stack staging): expected at least 42 (the backend's DB_POOL_SIZE, poolerDefaultPoolSize 20, times 2 backend containers during a deploy, plus 2 admin clients), got 41`],
    ],
    [
        "pooler wait alert at query_wait_timeout",
        [set("alertPoolerWaitSeconds", "30")],
        [`${K}alertPoolerWaitSeconds (stack staging): expected less than PgBouncer's query_wait_timeout (30 s): a client that waits that long is disconnected, so the alert would never see the wait; got 30`],
    ],
    ["both image and build context", [set("backendBuildContext", "../byte-runner/backend")], [`${K}backendImage (stack staging): expected exactly one of backendImage and backendBuildContext, got both`]],
    ["neither image nor build context", [unset("frontendImage")], [`${K}frontendImage (stack staging): expected exactly one of frontendImage and frontendBuildContext, got neither`]],
    ["image tagged latest", [set("backendImage", "ghcr.io/byte-runner/backend:latest")], [`${K}backendImage (stack staging): expected an image pinned to a version (a tag with a version in it such as 1.2.3, not latest, or an @sha256 digest), got "ghcr.io/byte-runner/backend:latest"`]],
    ["untagged image", [set("supertokensImage", "registry.supertokens.io/supertokens/supertokens-postgresql")], [`${K}supertokensImage (stack staging): expected an image pinned to a version (a tag with a version in it such as 1.2.3, not latest, or an @sha256 digest), got "registry.supertokens.io/supertokens/supertokens-postgresql"`]],
    ["postgres image of another major", [set("postgresImage", "postgres:16.4")], [`${K}postgresImage (stack staging): expected an image of major version 15 (postgresMajorVersion), got "postgres:16.4"`]],
    ["postgres major out of range", [set("postgresMajorVersion", "12"), set("postgresImage", "postgres:12.20")], [`${K}postgresMajorVersion (stack staging): expected an integer from 13 to 18, got 12`]],
    ["unknown key", [set("pooler.poolSize", "20")], [`${K}pooler.poolSize (stack staging): unknown key; expected one of the keys declared in Pulumi.yaml (see INFRASTRUCTURE.md)`]],
    ["more CPUs than the host has", [set("postgresCpus", "4")], [`${K}postgresCpus (stack staging): expected a number of CPUs greater than 0 and at most hostCpus (2), got "4"`]],
    ["CPUs that are no number", [set("backendCpus", "two")], [`${K}backendCpus (stack staging): expected a decimal number of CPUs greater than 0, got "two"`]],
    ["a CPU limit Docker would change", [set("backendCpus", "0.05")], [`${K}backendCpus (stack staging): expected a CPU limit Docker keeps as given (0.1 or more, such as 0.5, 1 or 1.25), got "0.05"`]],
    ["limits that do not fit the host", [set("hostMemoryMb", "2048")], [`${K}hostMemoryMb (stack staging): expected at least the sum of the containers' memory limits (4096 MiB), got 2048`]],
    ["alert e-mail without a sender or a server", [set("alertEmailTo", "ops@byte-runner.app")], [`${K}alertEmailFrom (stack staging): required with alertEmailTo (the e-mail receiver); got nothing`, `${K}alertSmtpSmarthost (stack staging): required with alertEmailTo (the e-mail receiver); got nothing`]],
    ["an SMTP user without a password", [set("alertSmtpUsername", "alerts@byte-runner.app")], [`${K}alertSmtpPassword (stack staging): required with alertSmtpUsername (the SMTP server would refuse every alert e-mail); set it with \`pulumi config set --secret alertSmtpPassword ...\`; got nothing`]],
    ["an SMTP password without a user", [setSecret("alertSmtpPassword", "smtp-password-1")], [`${K}alertSmtpUsername (stack staging): required with alertSmtpPassword (whose password it is); got nothing`]],
    ["a webhook URL in plain text", [set("alertWebhookUrl", "https://hooks.example/abc")], [`${K}alertWebhookUrl (stack staging): expected a secret, got a plain value (set it with \`pulumi config set --secret alertWebhookUrl ...\`)`]],
    ["a dead-man URL that is no http(s) URL", [setSecret("alertDeadmanUrl", "ftp://hc-ping.example/token-abc")], [`${K}alertDeadmanUrl (stack staging): expected an http(s):// URL, got a ftp:// URL`]],
    ["unknown TLS mode", [set("proxyTlsMode", "letsencrypt")], [`${K}proxyTlsMode (stack staging): expected one of origin-ca, acme, internal, got "letsencrypt"`]],
    ["unknown DNS target", [set("dnsTarget", "railway")], [`${K}dnsTarget (stack staging): expected one of legacy, vps, got "railway"`]],
    ["zone id that is no zone id", [set("dnsZoneId", "byte-runner.app")], [`${K}dnsZoneId (stack staging): expected a Cloudflare zone id (32 hex characters), got "byte-runner.app"`]],
    ["legacy target missing while DNS points at the old hosts", [unset("dnsLegacyApiTarget")], [`${K}dnsLegacyApiTarget (stack staging): required while dnsTarget is legacy (the old host to point at); got nothing`]],
    ["legacy target that is no hostname", [set("dnsLegacyFrontendTarget", "https://x.up.railway.app")], [`${K}dnsLegacyFrontendTarget (stack staging): expected a lower-case DNS hostname such as example.com, got "https://x.up.railway.app"`]],
    ["a flag that is no boolean", [set("dnsProxied", "yes")], [`${K}dnsProxied (stack staging): expected true or false, got "yes"`]],
    ["admin CIDR with a bad prefix", [set("firewallAdminCidrs", '["198.51.100.0/24","10.0.0.0/33"]')], [`${K}firewallAdminCidrs (stack staging): expected a list of IPv4/IPv6 network CIDRs such as 198.51.100.0/24, got "10.0.0.0/33" (prefix longer than 32)`]],
    ["admin CIDR with host bits set", [set("firewallAdminCidrs", '["10.0.0.1/8"]')], [`${K}firewallAdminCidrs (stack staging): expected a list of IPv4/IPv6 network CIDRs such as 198.51.100.0/24, got "10.0.0.1/8" (host bits set: a network address has them all zero)`]],
    ["IPv6 admin CIDR with host bits set", [set("firewallAdminCidrs", '["2001:db8::/32","2001:db8::1/32"]')], [`${K}firewallAdminCidrs (stack staging): expected a list of IPv4/IPv6 network CIDRs such as 198.51.100.0/24, got "2001:db8::1/32" (host bits set: a network address has them all zero)`]],
    ["image tag that names no version", [set("proxyImage", "caddy:alpine")], [`${K}proxyImage (stack staging): expected an image pinned to a version (a tag with a version in it such as 1.2.3, not latest, or an @sha256 digest), got "caddy:alpine"`]],
    ["admin CIDRs that are no list", [set("firewallAdminCidrs", "198.51.100.0/24")], [`${K}firewallAdminCidrs (stack staging): expected a list of IPv4/IPv6 network CIDRs such as 198.51.100.0/24 (pulumi config set --path 'firewallAdminCidrs[0]' ...), got "198.51.100.0/24"`]],
    ["ACME behind the Cloudflare proxy", [set("proxyTlsMode", "acme")], [`${K}proxyTlsMode (stack staging): acme needs dnsProxied: false (the ACME challenge must reach Caddy directly); use origin-ca for proxied records`]],
    ["Origin CA without a zone", [set("dnsZoneId", "")], [`${K}proxyTlsMode (stack staging): origin-ca needs dnsZoneId (the certificate is issued for the zone); set dnsZoneId or use acme or internal`]],
    ["Cloudflare-only firewall with records not proxied", [set("dnsProxied", "false"), set("proxyTlsMode", "acme")], [`${K}firewallCloudflareOnly (stack staging): expected false while dnsProxied is false (visitors would come straight to the VPS and be dropped), got true`]],
    ["forced restore after the cutover", [set("dnsTarget", "vps"), set("migrationRunId", "r2"), set("migrationForce", "true"), setSecret("migrationSourceDatabaseUrl", "postgresql://postgres.ref:pw@pooler.supabase.com:5432/postgres")], [`${K}migrationForce (stack staging): expected false while dnsTarget is vps: a forced restore would replace the live database; got true`]],
    ["unknown migration mode", [set("migrationMode", "logical")], [`${K}migrationMode (stack staging): expected one of dump, replicate, got "logical"`]],
    ["a migration phase in dump mode", [set("migrationPhase", "cutover")], [`${K}migrationPhase (stack staging): expected sync (the default) with migrationMode dump, which has no phases; set migrationMode replicate for cutover; got "cutover"`]],
    ["a cutover that freezes nobody", [set("migrationMode", "replicate"), set("migrationPhase", "cutover")], [`${K}migrationFreezeRoles (stack staging): required with migrationPhase cutover: the roles the app writes to Supabase as, made read-only for the freeze; got nothing`]],
    ["freeze roles that are no role names", [set("migrationFreezeRoles", "authenticator, postgres")], [`${K}migrationFreezeRoles (stack staging): expected comma-separated role names, got "authenticator, postgres"`]],
    ["a cutover lag threshold above 1 GiB", [set("migrationCutoverMaxLagBytes", "2147483648")], [`${K}migrationCutoverMaxLagBytes (stack staging): expected an integer from 0 to 1073741824, got 2147483648`]],
    ["migration without a source", [set("migrationRunId", "2026-12-01")], [`${K}migrationSourceDatabaseUrl (stack staging): required when migrationRunId is set; set it with \`pulumi config set --secret migrationSourceDatabaseUrl ...\``]],
    ["migration source in plain text", [set("migrationRunId", "r1"), set("migrationSourceDatabaseUrl", "postgresql://postgres:pw@db.example.supabase.co:5432/postgres")], [`${K}migrationSourceDatabaseUrl (stack staging): expected a secret, got a plain value (set it with \`pulumi config set --secret migrationSourceDatabaseUrl ...\`)`]],
    ["SuperTokens source in plain text", [set("migrationRunId", "r1"), setSecret("migrationSourceDatabaseUrl", "postgresql://postgres.ref:pw@pooler.supabase.com:5432/postgres"), set("migrationAuthSourceDatabaseUrl", "postgresql://st:pw@10.0.0.9:5432/export")], [`${K}migrationAuthSourceDatabaseUrl (stack staging): expected a secret, got a plain value (set it with \`pulumi config set --secret migrationAuthSourceDatabaseUrl ...\`)`]],
    ["SuperTokens source that is no URL", [set("migrationRunId", "r1"), setSecret("migrationSourceDatabaseUrl", "postgresql://postgres.ref:pw@pooler.supabase.com:5432/postgres"), setSecret("migrationAuthSourceDatabaseUrl", "mysql://st:pw@10.0.0.9/export")], [`${K}migrationAuthSourceDatabaseUrl (stack staging): expected a postgresql://user:password@host:port/database URL, got a URL that is not postgresql://`]],
    ["a Supabase-internal schema to migrate", [set("migrationSchemas", "public,storage,auth")], [`${K}migrationSchemas (stack staging): expected the app's own schemas, got Supabase-internal storage, auth (not movable to plain PostgreSQL)`]],
    ["slow-query threshold below -1", [set("postgresLogMinDurationMs", "-5")], [`${K}postgresLogMinDurationMs (stack staging): expected an integer from -1 to 3600000, got -5`]],
    ["health path without a slash", [set("backendHealthPath", "health")], [`${K}backendHealthPath (stack staging): expected a path starting with /, got "health"`]],
    ["backup schedule with four fields", [set("backupFullSchedule", "17 3 * *")], [`${K}backupFullSchedule (stack staging): expected a cron schedule such as "17 3 * * 0" (minute hour day-of-month month day-of-week, numbers only), got "17 3 * *": 4 fields (a schedule has 5: minute hour day-of-month month day-of-week)`]],
    ["backup schedule with minute 60", [set("backupDiffSchedule", "60 3 * * 1-6")], [`${K}backupDiffSchedule (stack staging): expected a cron schedule such as "17 3 * * 0" (minute hour day-of-month month day-of-week, numbers only), got "60 3 * * 1-6": "60" in the minute field (expected 0 to 59)`]],
    ["drill schedule with a day name", [set("backupDrillSchedule", "47 4 * * wed")], [`${K}backupDrillSchedule (stack staging): expected a cron schedule such as "17 3 * * 0" (minute hour day-of-month month day-of-week, numbers only), got "47 4 * * wed": "wed" in the day of week field (expected *, a number, a range a-b, any of them /step)`]],
    ["backup retention 0", [set("backupLocalRetentionFull", "0")], [`${K}backupLocalRetentionFull (stack staging): expected an integer from 1 to 52, got 0`]],
    ["offsite bucket with capitals", [set("backupOffsiteBucket", "Byte_Runner")], [`${K}backupOffsiteBucket (stack staging): expected an S3 bucket name such as byte-runner-backups, got "Byte_Runner": a name that is not 3 to 63 lower-case letters, digits, dots or dashes starting and ending with a letter or digit`]],
    ["offsite endpoint given as a URL", [set("backupOffsiteEndpoint", "https://abc.r2.cloudflarestorage.com")], [`${K}backupOffsiteEndpoint (stack staging): expected a lower-case DNS hostname such as example.com, got "https://abc.r2.cloudflarestorage.com"`]],
    ["offsite store without its secret key", [unset("backupOffsiteSecretAccessKey")], [`${K}backupOffsiteSecretAccessKey (stack staging): required with backupOffsiteEndpoint (the offsite repository); set it with \`pulumi config set --secret backupOffsiteSecretAccessKey ...\`; got nothing`]],
    ["offsite access key in plain text", [plain("backupOffsiteAccessKeyId")], [`${K}backupOffsiteAccessKeyId (stack staging): expected a secret, got a plain value (set it with \`pulumi config set --secret backupOffsiteAccessKeyId ...\`)`]],
    ["offsite bucket and keys without an endpoint", [unset("backupOffsiteEndpoint")], ["backupOffsiteBucket", "backupOffsiteAccessKeyId", "backupOffsiteSecretAccessKey"].map((k) => `${K}${k} (stack staging): set without backupOffsiteEndpoint: set the endpoint too, or remove this key`)],
    ["offsite CA that is no certificate", [set("backupOffsiteCaCert", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----")], [`${K}backupOffsiteCaCert (stack staging): expected PEM certificates, got a PEM certificate that does not decode`]],
    ["archive timeout below 10 s", [set("backupArchiveTimeoutSeconds", "5")], [`${K}backupArchiveTimeoutSeconds (stack staging): expected an integer from 10 to 3600, got 5`]],
    [
        "several problems reported together",
        [unset("domain"), set("hostSshPort", "0"), set("pooler.poolSize", "1")],
        [
            `${K}pooler.poolSize (stack staging): unknown key; expected one of the keys declared in Pulumi.yaml (see INFRASTRUCTURE.md)`,
            `${K}domain (stack staging): required (The product's apex domain, e.g. byte-runner.app), got nothing; set it with \`pulumi config set domain ...\``,
            `${K}hostSshPort (stack staging): expected an integer from 1 to 65535, got 0`,
        ],
    ],
];

describe("config validation", () => {
    it("refuses a prod stack whose alerts reach nobody, naming the key, and prod rules shortened for tests", () => {
        const prod = committedConfig("prod");
        for (const key of ["alertEmailTo", "alertEmailFrom", "alertSmtpSmarthost"]) delete prod.values[key];
        assert.throws(
            () => parseConfig(prod.values, new Set(prod.secretKeys), "prod"),
            (e: ConfigError) => {
                assert.deepEqual(e.problems, [
                    `${K}alertEmailTo (stack prod): required in prod, or alertWebhookUrl or alertSlackWebhookUrl: an alert nobody receives tells nobody; got no receiver`,
                ]);
                return true;
            },
        );
        prod.values["alertWebhookUrl"] = "https://hooks.example/abc";
        prod.secretKeys.push("alertWebhookUrl");
        assert.doesNotThrow(() => parseConfig(prod.values, new Set(prod.secretKeys), "prod"));
        prod.values["monitoringRuleForCapSeconds"] = "20";
        assert.throws(() => parseConfig(prod.values, new Set(prod.secretKeys), "prod"), /monitoringRuleForCapSeconds \(stack prod\): expected 0 in prod/);
    });

    it("refuses a prod cutover without a verified migration, unless overridden", () => {
        const prod = committedConfig("prod");
        prod.values["dnsTarget"] = "vps";
        assert.throws(
            () => parseConfig(prod.values, new Set(prod.secretKeys), "prod"),
            (e: ConfigError) =>
                e.problems.includes(
                    `${K}dnsTarget (stack prod): expected legacy until the data migration has been verified in this stack (set migrationRunId), or dnsAllowUnverifiedCutover: true; got "vps"`,
                ),
        );
        prod.values["dnsAllowUnverifiedCutover"] = "true";
        assert.doesNotThrow(() => parseConfig(prod.values, new Set(prod.secretKeys), "prod"));
    });

    it("with migrationMode replicate, opens prod's DNS only in the cutover phase (whose verified cutover the records wait for)", () => {
        const prod = committedConfig("prod");
        Object.assign(prod.values, {
            dnsTarget: "vps",
            migrationRunId: "r1",
            migrationMode: "replicate",
            migrationSourceDatabaseUrl: "postgresql://postgres:pw@db.ref.supabase.co:5432/postgres",
            migrationFreezeRoles: "authenticator",
        });
        prod.secretKeys.push("migrationSourceDatabaseUrl");
        for (const phase of ["sync", "abort"]) {
            prod.values["migrationPhase"] = phase;
            assert.throws(
                () => parseConfig(prod.values, new Set(prod.secretKeys), "prod"),
                (e: ConfigError) =>
                    e.problems.length === 1 &&
                    e.problems[0] ===
                        `${K}dnsTarget (stack prod): expected legacy until the replicate migration's cutover has been verified in this stack (migrationPhase cutover), or dnsAllowUnverifiedCutover: true; got "vps" with migrationPhase ${phase}`,
            );
        }
        prod.values["migrationPhase"] = "cutover";
        assert.doesNotThrow(() => parseConfig(prod.values, new Set(prod.secretKeys), "prod"));
    });

    it("refuses prod backups without an offsite repository, unless explicitly allowed", () => {
        const prod = committedConfig("prod");
        for (const key of ["backupOffsiteEndpoint", "backupOffsiteBucket", "backupOffsiteAccessKeyId", "backupOffsiteSecretAccessKey"]) delete prod.values[key];
        assert.throws(
            () => parseConfig(prod.values, new Set(prod.secretKeys), "prod"),
            (e: ConfigError) =>
                e.problems.length === 1 &&
                e.problems[0] ===
                    `${K}backupOffsiteEndpoint (stack prod): required in prod: backups only on the VPS's own disk are lost with the VPS; set the offsite store (backupOffsiteEndpoint, backupOffsiteBucket and its keys), or backupAllowNoOffsite: true; got nothing`,
        );
        prod.values["backupAllowNoOffsite"] = "true";
        assert.equal(parseConfig(prod.values, new Set(prod.secretKeys), "prod").backup.offsite, undefined);
        // Staging may do without.
        const staging = committedConfig("staging");
        for (const key of ["backupOffsiteEndpoint", "backupOffsiteBucket", "backupOffsiteAccessKeyId", "backupOffsiteSecretAccessKey"]) delete staging.values[key];
        assert.doesNotThrow(() => parseConfig(staging.values, new Set(staging.secretKeys), "staging"));
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

    it("budgets memory for exactly the containers the program declares", async () => {
        for (const stack of ["staging", "prod"]) {
            const c = committedConfig(stack);
            const values = validateConfig(c.values, new Set(c.secretKeys), stack);
            const graph = await buildGraph(stack, c);
            const containers = graph.resources.filter((r) => r.type === "docker:index/container:Container");
            const declared = CONFIG_KEYS.filter((k) => k.key.endsWith("MemoryMb") && k.key !== "hostMemoryMb").map((k) => values[k.key] as number);
            // One limit key per container, except the monitoring set, which shares monitoringMemoryMb:
            // a container whose limit the budget does not count fails here.
            const monitoringSet = containers.filter((r) => r.parent === "monitoring").map((r) => Number(r.inputs.memory));
            assert.ok(monitoringSet.length > 0 && monitoringSet.reduce((a, b) => a + b, 0) <= values.monitoringMemoryMb, stack);
            const limits = [...containers.filter((r) => r.parent !== "monitoring").map((r) => Number(r.inputs.memory)), values.monitoringMemoryMb];
            assert.deepEqual(limits.sort(), [...declared].sort(), stack);
            assert.equal(containerMemoryMb(values), declared.reduce((a, b) => a + b, 0));
        }
    });

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
