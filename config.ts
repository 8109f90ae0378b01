// The stack's configuration, declared once. KEYS holds every key: its kind (a zod schema
// from Pulumi's raw string to the typed value, and the type Pulumi.yaml declares), its
// default, whether it is secret, and its description. From that one declaration come the
// parsed type (inferred), validation (parseConfig: every problem at once, each naming the
// key and the stack), Pulumi.yaml's `config:` section and INFRASTRUCTURE.md's key table
// (tools/gen-docs.ts; a test fails when they drift). RULES holds every rule across keys.
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { POOLER_ADMIN_CLIENTS, QUERY_WAIT_TIMEOUT_SECONDS, RESERVE_POOL_SIZE } from "./components/pooler/pgbouncer";
import { PROXY_PORTS } from "./components/proxy/ports";
import { cpusStable } from "./components/shared/cpus";
import {
    cidrProblem,
    cronLongestGapSeconds,
    cronScheduleProblem,
    imageTag,
    isHostname,
    isIpv4,
    isIpv6,
    isPinnedImage,
    pemCertificatesProblem,
    postgresUrlProblem,
    s3BucketProblem,
    sshHostKeyProblem,
    sshPrivateKeyProblem,
} from "./values";

export { isPinnedImage } from "./values";

export const PROJECT = "byte-runner-infra";

/** The type Pulumi.yaml declares for a key. */
export type KeyType = "string" | "integer" | "boolean" | "array";
/** A default as Pulumi.yaml holds it (the engine hands it to the program as text). */
type RawDefault = string | number | boolean | string[];
/** Why a value is refused, phrased to follow "got ..." or "expected ..."; undefined when it is fine. */
type Check = (value: string) => string | undefined;

/** A kind of value: the schema that turns Pulumi's raw text into it, and the type Pulumi.yaml declares. */
interface Kind<T> {
    type: KeyType;
    schema: z.ZodType<T, string>;
}

interface KeySpec<T> extends Kind<T> {
    description: string;
    /** Absent for required keys. Secrets never have a default. */
    default?: RawDefault;
    /** Must be set with `pulumi config set --secret`; a plain value is refused. */
    secret?: boolean;
    /** May be left unset (Pulumi.yaml then declares the default "", which means unset). */
    optional?: boolean;
    /** Set on a container's limit keys (containerLimits): the budget rules read exactly these. */
    containerLimit?: "memory" | "cpus";
}

// ---- Kinds of values ----------------------------------------------------------------

/** In a message, stands for the key's own name. */
const KEY = "<key>";

function refuse(check: Check): (value: string, ctx: z.RefinementCtx) => void {
    return (value, ctx) => {
        const message = check(value);
        if (message) ctx.addIssue({ code: "custom", message });
    };
}

function text(check: Check = () => undefined): Kind<string> {
    return { type: "string", schema: z.string().superRefine(refuse(check)) };
}

/** The check, except that "" (unset, a default follows from other keys) passes. */
const orEmpty =
    (check: Check): Check =>
    (v) =>
        v === "" ? undefined : check(v);

function integer(min: number, max: number): Kind<number> {
    const expected = `expected an integer from ${min} to ${max}`;
    const range = { error: (iss: { input?: unknown }) => `${expected}, got ${String(iss.input)}` };
    return {
        type: "integer",
        schema: z
            .string()
            .regex(/^\s*-?\d+\s*$/, { error: (iss) => `${expected}, got ${JSON.stringify(iss.input)}` })
            .transform(Number)
            .pipe(z.number().min(min, range).max(max, range)),
    };
}

function flag(): Kind<boolean> {
    return {
        type: "boolean",
        schema: z.enum(["true", "false"], { error: (iss) => `expected true or false, got ${JSON.stringify(iss.input)}` }).transform((v) => v === "true"),
    };
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T): Kind<T[number]> {
    return { type: "string", schema: z.enum(values, { error: (iss) => `expected one of ${values.join(", ")}, got ${JSON.stringify(iss.input)}` }) };
}

/** A JSON list of strings, as `pulumi config set --path 'key[0]'` writes it; each item checked. */
function list(check: Check, what: string): Kind<string[]> {
    return {
        type: "array",
        schema: z.string().transform((v, ctx) => {
            let items: unknown;
            try {
                items = JSON.parse(v);
            } catch {
                items = undefined;
            }
            if (!Array.isArray(items) || !items.every((i) => typeof i === "string")) {
                ctx.addIssue({ code: "custom", message: `expected a list of ${what} (pulumi config set --path '${KEY}[0]' ...), got ${JSON.stringify(v)}` });
                return z.NEVER;
            }
            const bad = (items as string[]).flatMap((i) => {
                const why = check(i);
                return why ? [`${JSON.stringify(i)} (${why})`] : [];
            });
            if (bad.length > 0) ctx.addIssue({ code: "custom", message: `expected a list of ${what}, got ${bad.join(", ")}` });
            return items as string[];
        }),
    };
}

/** A CPU limit: a decimal number that the docker provider reads back unchanged. */
function cpus(): Kind<number> {
    return {
        type: "string",
        schema: z.string().transform((v, ctx) => {
            const n = Number(v);
            if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0)) {
                ctx.addIssue({ code: "custom", message: `expected a decimal number of CPUs greater than 0, got ${JSON.stringify(v)}` });
            } else if (!cpusStable(n)) {
                ctx.addIssue({ code: "custom", message: `expected a CPU limit Docker keeps as given (0.1 or more, such as 0.5, 1 or 1.25), got ${JSON.stringify(v)}` });
            }
            return n;
        }),
    };
}

const hostname: Check = (v) => (isHostname(v) ? undefined : `expected a lower-case DNS hostname such as example.com, got ${JSON.stringify(v)}`);
const pinnedImage: Check = (v) =>
    isPinnedImage(v) ? undefined : `expected an image pinned to a version (a tag with a version in it such as 1.2.3, not latest, or an @sha256 digest), got ${JSON.stringify(v)}`;
const pattern =
    (re: RegExp, what: string): Check =>
    (v) =>
        re.test(v) ? undefined : `expected ${what}, got ${JSON.stringify(v)}`;
/** For secrets: the reason never quotes the value. */
const secretCheck =
    (problem: (v: string) => string | undefined, expected: string): Check =>
    (v) => {
        const why = problem(v);
        return why ? `expected ${expected}, got ${why}` : undefined;
    };
const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
/** Why a value is not an http(s) URL with a host, without quoting it (these URLs carry tokens). */
function httpUrlProblem(v: string): string | undefined {
    let url: URL;
    try {
        url = new URL(v);
    } catch {
        return "a value that is not a URL";
    }
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "" ? undefined : `a ${url.protocol}// URL`;
}
const postgresUrl = secretCheck(postgresUrlProblem, "a postgresql://user:password@host:port/database URL");
const cronSchedule: Check = (v) => {
    const why = cronScheduleProblem(v);
    return why ? `expected a cron schedule such as "17 3 * * 0" (minute hour day-of-month month day-of-week, numbers only), got ${JSON.stringify(v)}: ${why}` : undefined;
};
const s3Bucket: Check = (v) => {
    const why = s3BucketProblem(v);
    return why ? `expected an S3 bucket name such as byte-runner-backups, got ${JSON.stringify(v)}: ${why}` : undefined;
};
const address: Check = (v) => (isIpv4(v) || isIpv6(v) || isHostname(v) ? undefined : `expected an IPv4/IPv6 address or a DNS name, got ${JSON.stringify(v)}`);

/** Supabase's own schemas, which cannot be moved to plain PostgreSQL: pg-migrate's list is the one source. */
const SUPABASE_SCHEMAS = (() => {
    const tool = fs.readFileSync(path.join(__dirname, "components", "migration", "pg-migrate"), "utf8");
    const list = /^readonly SUPABASE_SCHEMAS="([a-z0-9_ ]+)"$/m.exec(tool)?.[1];
    if (!list) throw new Error("components/migration/pg-migrate no longer declares SUPABASE_SCHEMAS on one line");
    return list.split(" ");
})();
const migrationSchemas: Check = (v) => {
    if (!/^[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*$/.test(v)) return `expected comma-separated lower-case schema names, got ${JSON.stringify(v)}`;
    const internal = v.split(",").filter((schema) => SUPABASE_SCHEMAS.includes(schema));
    return internal.length > 0 ? `expected the app's own schemas, got Supabase-internal ${internal.join(", ")} (not movable to plain PostgreSQL)` : undefined;
};

// ---- Declarations -------------------------------------------------------------------

function key<T>(kind: Kind<T>, meta: { description: string; default?: RawDefault }): KeySpec<T> {
    return { ...kind, ...meta };
}

function secretKey<T>(kind: Kind<T>, meta: { description: string }): KeySpec<T> & { secret: true } {
    return { ...kind, ...meta, secret: true };
}

function optionalSecretKey<T>(kind: Kind<T>, meta: { description: string }): KeySpec<T> & { secret: true; optional: true } {
    return { ...kind, ...meta, secret: true, optional: true };
}

/** A container's memory and CPU limit keys, `<area>MemoryMb` and `<area>Cpus`. */
function containerLimits<A extends string>(
    area: A,
    container: string,
    defaults: { memoryMb: number; cpus: string },
    memoryNote = "",
): Record<`${A}MemoryMb`, KeySpec<number>> & Record<`${A}Cpus`, KeySpec<number>> {
    const memory: KeySpec<number> = {
        ...integer(64, 1048576),
        default: defaults.memoryMb,
        description: `Memory limit of the ${container} container in MiB${memoryNote}.`,
        containerLimit: "memory",
    };
    const cpu: KeySpec<number> = {
        ...cpus(),
        default: defaults.cpus,
        description: `CPU limit of the ${container} container (decimal number of CPUs).`,
        containerLimit: "cpus",
    };
    return { [`${area}MemoryMb`]: memory, [`${area}Cpus`]: cpu } as Record<`${A}MemoryMb`, KeySpec<number>> & Record<`${A}Cpus`, KeySpec<number>>;
}

export const ENVIRONMENTS = ["prod", "staging", "local"] as const;
export const TLS_MODES = ["origin-ca", "acme", "internal"] as const;
export const DNS_TARGETS = ["legacy", "vps"] as const;
export const MIGRATION_RLS = ["disable", "keep-rewritten"] as const;
export const MIGRATION_MODES = ["dump", "replicate"] as const;
export const MIGRATION_PHASES = ["sync", "cutover", "abort"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];
export type TlsMode = (typeof TLS_MODES)[number];
export type DnsTarget = (typeof DNS_TARGETS)[number];

/**
 * Connections to Postgres held for what is neither the pooler nor SuperTokens: the 3 of
 * superuser_reserved_connections (operators, migrations), postgres_exporter and a backup.
 */
export const HELD_CONNECTIONS = 5;

/** Backend containers that hold a pool at once: 2 while a zero-downtime deploy runs the new one beside the old. */
export const BACKEND_CONTAINERS_AT_ONCE = 2;

/** Every key the project reads. Order is the order of the docs. */
export const KEYS = {
    // The product
    environment: key(oneOf(ENVIRONMENTS), { description: "Which environment this stack is: prod, staging or local (hostnames and NODE_ENV follow from it)." }),
    domain: key(text(hostname), { description: "The product's apex domain, e.g. byte-runner.app." }),
    frontendHost: key(text(orEmpty(hostname)), { default: "", description: "Hostname of the web frontend. Empty: the domain in prod, <environment>.<domain> otherwise." }),
    apiHost: key(text(orEmpty(hostname)), {
        default: "",
        description:
            "Hostname of the backend API. Empty: api.<domain> in prod, api-<environment>.<domain> otherwise (one level below the domain, so Cloudflare's universal certificate covers it when proxied).",
    }),

    // The VPS
    hostAddress: key(text(address), { description: "Public IPv4/IPv6 address or DNS name of the VPS." }),
    hostSshPort: key(integer(1, 65535), { default: 22, description: "SSH port of the VPS." }),
    hostSshUser: key(text(pattern(/^[a-z_][a-z0-9_-]{0,31}$/, "a Unix user name")), { default: "root", description: "SSH user: root, or a user with passwordless sudo." }),
    hostSshPrivateKey: secretKey(text(secretCheck(sshPrivateKeyProblem, "a complete, unencrypted OpenSSH or PEM private key")), {
        description: "OpenSSH private key (PEM/OpenSSH format) that logs in as hostSshUser.",
    }),
    hostSshHostKey: key(
        text((v) => {
            const why = sshHostKeyProblem(v);
            return why ? `expected a public host key line such as \`ssh-ed25519 AAAA...\` (from ssh-keyscan), got ${why}` : undefined;
        }),
        { description: "The VPS's public SSH host key (`ssh-ed25519 AAAA...`), pinned: host key checking is never turned off." },
    ),
    hostMemoryMb: key(integer(512, 4194304), { default: 8192, description: "Memory of the VPS in MiB; container limits must fit inside it." }),
    hostCpus: key(integer(1, 512), { default: 4, description: "vCPUs of the VPS; no container may be given more." }),
    hostSwapMb: key(integer(0, 65536), { default: 2048, description: "Swap file the bootstrap creates, in MiB (0: none)." }),
    hostLogMaxSizeMb: key(integer(1, 1024), { default: 10, description: "Docker json-file log rotation: size of one log file in MiB." }),
    hostLogMaxFiles: key(integer(1, 100), { default: 5, description: "Docker json-file log rotation: files kept per container." }),

    // Postgres
    postgresImage: key(text(pinnedImage), { default: "postgres:15.18-bookworm", description: "Postgres image, pinned by version; its major must equal postgresMajorVersion." }),
    postgresMajorVersion: key(integer(13, 18), { default: 15, description: "Postgres major version; must match the Supabase source so dump and restore tools agree." }),
    postgresMaxConnections: key(integer(20, 10000), { default: 100, description: "max_connections of the server." }),
    ...containerLimits("postgres", "Postgres", { memoryMb: 2048, cpus: "2" }, "; shared_buffers, effective_cache_size and work_mem are derived from it"),
    postgresLogMinDurationMs: key(integer(-1, 3600000), { default: 500, description: "Slow-query log threshold (log_min_duration_statement) in ms; -1 disables." }),

    // Pooler
    poolerImage: key(text(pinnedImage), { default: "edoburu/pgbouncer:v1.24.1-p1", description: "PgBouncer image, pinned by version." }),
    poolerDefaultPoolSize: key(integer(1, 10000), {
        default: 20,
        description: "PgBouncer default_pool_size: server connections per database/user pair; also the backend's DB_POOL_SIZE.",
    }),
    poolerMaxClientConn: key(integer(1, 100000), { default: 1500, description: "PgBouncer max_client_conn (the container's open-files limit follows it)." }),
    ...containerLimits("pooler", "PgBouncer", { memoryMb: 128, cpus: "1" }),

    // SuperTokens
    supertokensImage: key(text(pinnedImage), { default: "registry.supertokens.io/supertokens/supertokens-postgresql:11.0.0", description: "SuperTokens Core image, pinned by version." }),
    supertokensPoolSize: key(integer(1, 1000), { default: 10, description: "SuperTokens Core's own connection pool to Postgres (POSTGRESQL_CONNECTION_POOL_SIZE)." }),
    ...containerLimits("supertokens", "SuperTokens Core", { memoryMb: 512, cpus: "1" }),

    // Apps
    backendImage: key(text(orEmpty(pinnedImage)), {
        default: "",
        description: "Backend image reference (registry/name:tag or @sha256 digest). Exactly one of backendImage and backendBuildContext.",
    }),
    backendBuildContext: key(text(), { default: "", description: "Directory with the backend's Dockerfile, built on the VPS. Exactly one of backendImage and backendBuildContext." }),
    backendPort: key(integer(1, 65535), { default: 4000, description: "Port the NestJS backend listens on inside its container." }),
    backendHealthPath: key(text(pattern(/^\/[^\s]*$/, "a path starting with /")), { default: "/health", description: "HTTP path that answers 200 when the backend is healthy." }),
    ...containerLimits("backend", "backend", { memoryMb: 1024, cpus: "2" }),
    backendSentryDsn: optionalSecretKey(text(), { description: "Optional Sentry DSN given to the backend as SENTRY_DSN." }),
    frontendImage: key(text(orEmpty(pinnedImage)), { default: "", description: "Frontend image reference. Exactly one of frontendImage and frontendBuildContext." }),
    frontendBuildContext: key(text(), { default: "", description: "Directory with the frontend's Dockerfile, built on the VPS. Exactly one of frontendImage and frontendBuildContext." }),
    frontendPort: key(integer(1, 65535), { default: 3000, description: "Port the frontend listens on inside its container." }),
    frontendHealthPath: key(text(pattern(/^\/[^\s]*$/, "a path starting with /")), { default: "/", description: "HTTP path that answers 200 when the frontend is healthy." }),
    ...containerLimits("frontend", "frontend", { memoryMb: 512, cpus: "1" }),

    // Proxy
    proxyImage: key(text(pinnedImage), { default: "caddy:2.10.2-alpine", description: "Caddy image, pinned by version." }),
    proxyTlsMode: key(oneOf(TLS_MODES), {
        default: "origin-ca",
        description:
            "How Caddy gets certificates: origin-ca (a Cloudflare Origin CA certificate made as code, for proxied records), acme (Caddy's automatic HTTPS, for records that are not proxied) or internal (Caddy's own CA, for local and test stacks).",
    }),
    proxyAcmeEmail: key(text(orEmpty(pattern(EMAIL, "an e-mail address"))), { default: "", description: "Contact e-mail for the ACME account (acme mode); empty: none." }),
    proxyHstsMaxAgeSeconds: key(integer(0, 63072000), { default: 31536000, description: "Strict-Transport-Security max-age sent on every response (0: no HSTS header)." }),
    ...containerLimits("proxy", "Caddy", { memoryMb: 256, cpus: "1" }),

    // DNS (Cloudflare) and the cutover
    dnsZoneId: key(text(orEmpty(pattern(/^[0-9a-f]{32}$/, "a Cloudflare zone id (32 hex characters)"))), {
        default: "",
        description: "Cloudflare zone id of the domain (32 hex characters). Empty: DNS is not managed by this stack.",
    }),
    dnsTarget: key(oneOf(DNS_TARGETS), {
        default: "legacy",
        description: "Where the product's records point: legacy (the old hosts, dns.legacy*Target) or vps (this VPS). Flipping it is the cutover; flipping it back is the rollback.",
    }),
    dnsLegacyFrontendTarget: key(text(orEmpty(hostname)), {
        default: "",
        description: "Old host of the frontend (a CNAME target, e.g. the Railway domain), used while dnsTarget is legacy.",
    }),
    dnsLegacyApiTarget: key(text(orEmpty(hostname)), { default: "", description: "Old host of the API (a CNAME target, e.g. the Railway domain), used while dnsTarget is legacy." }),
    dnsIpv4Address: key(text(orEmpty((v) => (isIpv4(v) ? undefined : `expected an IPv4 address, got ${JSON.stringify(v)}`))), {
        default: "",
        description: "IPv4 address the A records get with dnsTarget vps. Empty: hostAddress (which must then be an IPv4 address).",
    }),
    dnsProxied: key(flag(), { default: true, description: "Proxy the records through Cloudflare (a flip takes effect at the edge at once; TTL is automatic)." }),
    dnsTtl: key(integer(60, 86400), { default: 300, description: "TTL in seconds of records that are not proxied (lower it to 60 a day before a cutover)." }),
    dnsAllowUnverifiedCutover: key(flag(), {
        default: false,
        description: "Prod only: allow dnsTarget vps without a verified data migration in this stack. Loud in every preview.",
    }),
    dnsManageZoneSettings: key(flag(), {
        default: false,
        description: "Set the zone's SSL mode to Full (strict) (origin-ca mode). Off when the zone is shared with things this stack does not own.",
    }),

    // Host firewall
    firewallEnabled: key(flag(), {
        default: true,
        description: "Apply the host firewall (nftables): default deny inbound, SSH from firewallAdminCidrs, 80/443 public; Docker-published ports cannot bypass it.",
    }),
    firewallAdminCidrs: key(list(cidrProblem, "IPv4/IPv6 network CIDRs such as 198.51.100.0/24"), {
        default: [],
        description: "CIDRs allowed to reach SSH. Empty: everywhere (a warning in every preview).",
    }),
    firewallCloudflareOnly: key(flag(), {
        default: false,
        description: "Accept 80/443 only from Cloudflare's published ranges (components/firewall/cloudflare-ips.txt); for proxied records.",
    }),

    // Backups (pgBackRest): WAL archive and backups in a local and an offsite repository
    backupArchiveTimeoutSeconds: key(integer(10, 3600), {
        default: 60,
        description:
            "archive_timeout: a WAL segment is archived at least this often while there are writes, so at most this many seconds of committed data are not yet in the archive (the RPO bound).",
    }),
    backupFullSchedule: key(text(cronSchedule), { default: "17 3 * * 0", description: "When full backups run (cron, the VPS's time zone UTC): weekly by default." }),
    backupDiffSchedule: key(text(orEmpty(cronSchedule)), {
        default: "17 3 * * 1-6",
        description: "When differential backups run (cron, UTC): the other days by default. Empty: none.",
    }),
    backupDrillSchedule: key(text(cronSchedule), {
        default: "47 4 * * 3",
        description: "When the restore drill runs (cron, UTC): the latest backup restored into a throw-away Postgres and checked. Weekly by default.",
    }),
    backupLocalRetentionFull: key(integer(1, 52), { default: 2, description: "Full backups kept in the local repository on the VPS (older ones and their WAL are expired)." }),
    backupOffsiteRetentionFull: key(integer(1, 520), { default: 4, description: "Full backups kept in the offsite repository." }),
    backupOffsiteEndpoint: key(text(orEmpty(hostname)), {
        default: "",
        description: "Hostname of the offsite S3-compatible store (R2: <account id>.r2.cloudflarestorage.com). Empty: no offsite repository.",
    }),
    backupOffsitePort: key(integer(1, 65535), { default: 443, description: "HTTPS port of the offsite store." }),
    backupOffsiteBucket: key(text(orEmpty(s3Bucket)), { default: "", description: "Bucket of the offsite repository (the stack's backups go under /byte-runner-<stack> in it)." }),
    backupOffsiteRegion: key(text(pattern(/^[a-z0-9-]{1,32}$/, "an S3 region such as auto or eu-central-1")), {
        default: "auto",
        description: "Region of the offsite store (R2: auto).",
    }),
    backupOffsiteAddress: key(text(orEmpty((v) => (isIpv4(v) || isIpv6(v) ? undefined : `expected an IPv4 or IPv6 address, got ${JSON.stringify(v)}`))), {
        default: "",
        description:
            "IP address backupOffsiteEndpoint resolves to inside the backup containers (an /etc/hosts entry), for a store without public DNS; the certificate is still checked against the endpoint's name. Empty: DNS.",
    }),
    backupOffsiteCaCert: key(text(orEmpty((v) => (pemCertificatesProblem(v) ? `expected PEM certificates, got ${pemCertificatesProblem(v)}` : undefined))), {
        default: "",
        description: "PEM certificate(s) of the CA the offsite store's certificate chains to, when that is not a public CA. Empty: the system's CAs.",
    }),
    backupOffsiteAccessKeyId: optionalSecretKey(text(pattern(/^\S{8,256}$/, "an access key id")), { description: "Access key id of the offsite store. Required with backupOffsiteEndpoint." }),
    backupOffsiteSecretAccessKey: optionalSecretKey(text((v) => (/^\S{8,256}$/.test(v) ? undefined : "expected a secret access key of 8 to 256 non-space characters")), {
        description: "Secret access key of the offsite store. Required with backupOffsiteEndpoint.",
    }),
    backupPassphrase: optionalSecretKey(text(pattern(/^[A-Za-z0-9]{32,}$/, "32 or more letters and digits")), {
        description:
            "The repositories' encryption passphrase, when it must be a kept one (a stack made anew over existing backups: disaster recovery, or up after destroy). Unset: generated once and kept in the state (stack output backupPassphrase).",
    }),
    backupAllowNoOffsite: key(flag(), {
        default: false,
        description: "Prod only: allow backups without an offsite repository (they die with the VPS). Loud in every preview.",
    }),
    ...containerLimits("backup", "backup scheduler", { memoryMb: 512, cpus: "1" }, "; the restore drill's throw-away Postgres runs inside it"),

    // Monitoring: Prometheus, Alertmanager, exporters and Grafana on the VPS (components/monitoring)
    monitoringEnabled: key(flag(), { default: true, description: "Run the monitoring set: metrics, alert rules, Alertmanager and (with monitoringGrafanaImage) Grafana." }),
    monitoringPrometheusImage: key(text(pinnedImage), { default: "prom/prometheus:v2.42.0", description: "Prometheus image, pinned by version." }),
    monitoringAlertmanagerImage: key(text(pinnedImage), { default: "prom/alertmanager:v0.35.0", description: "Alertmanager image, pinned by version." }),
    monitoringNodeExporterImage: key(text(pinnedImage), { default: "prom/node-exporter:v1.5.0", description: "node_exporter image (the host's metrics and the backups' textfiles), pinned by version." }),
    monitoringPostgresExporterImage: key(text(pinnedImage), {
        default: "quay.io/prometheuscommunity/postgres-exporter:v0.11.1",
        description: "postgres_exporter image, pinned by version.",
    }),
    monitoringBlackboxExporterImage: key(text(pinnedImage), { default: "prom/blackbox-exporter:v0.23.0", description: "blackbox_exporter image (probes of the public URLs, TLS expiry), pinned by version." }),
    monitoringExporterImage: key(text(pinnedImage), {
        default: "node:20.18.1-bookworm-slim",
        description: "Node.js image that runs the project's own exporter (container health and restarts, PgBouncer pools), pinned by version.",
    }),
    monitoringGrafanaImage: key(text(orEmpty(pinnedImage)), {
        default: "grafana/grafana-oss:11.3.0",
        description: "Grafana image, pinned by version; its datasource and dashboards are provisioned from components/monitoring. Empty: no Grafana.",
    }),
    monitoringScrapeIntervalSeconds: key(integer(5, 300), { default: 30, description: "How often Prometheus scrapes every target and evaluates the alert rules." }),
    monitoringRetentionDays: key(integer(1, 3650), { default: 15, description: "Days of metrics Prometheus keeps (INFRASTRUCTURE.md estimates the disk they take)." }),
    monitoringRuleForCapSeconds: key(integer(0, 86400), {
        default: 0,
        description: "Test stacks only: every alert rule's `for:` is shortened to at most this many seconds, so faults alert within minutes. 0: the rules' own durations.",
    }),
    monitoringMemoryMb: {
        ...integer(256, 1048576),
        default: 512,
        description: "Memory limit of the whole monitoring set in MiB, shared out among its containers by fixed weights (components/monitoring).",
        containerLimit: "memory",
    } as KeySpec<number>,
    monitoringCpus: { ...cpus(), default: "0.5", description: "CPU limit of each monitoring container (decimal number of CPUs).", containerLimit: "cpus" } as KeySpec<number>,
    alertEmailTo: key(text(orEmpty(pattern(EMAIL, "an e-mail address"))), { default: "", description: "Where alert e-mails go. Empty: no e-mail receiver." }),
    alertEmailFrom: key(text(orEmpty(pattern(EMAIL, "an e-mail address"))), { default: "", description: "Sender of alert e-mails. Required with alertEmailTo." }),
    alertSmtpSmarthost: key(text(orEmpty(pattern(/^[a-z0-9.-]+:\d{1,5}$/, "host:port of an SMTP server"))), {
        default: "",
        description: "SMTP server (host:port, STARTTLS required) that sends alert e-mails. Required with alertEmailTo.",
    }),
    alertSmtpUsername: key(text(), { default: "", description: "SMTP user name; empty: no SMTP authentication." }),
    alertSmtpPassword: optionalSecretKey(text(pattern(/^\S{1,256}$/, "a password without spaces")), { description: "SMTP password of alertSmtpUsername." }),
    alertWebhookUrl: optionalSecretKey(text(secretCheck(httpUrlProblem, "an http(s):// URL")), {
        description: "A generic webhook that receives every alert and its resolution as Alertmanager's JSON (secret: such URLs carry tokens).",
    }),
    alertSlackWebhookUrl: optionalSecretKey(text(secretCheck(httpUrlProblem, "an https://hooks.slack.com/... URL")), { description: "Slack incoming-webhook URL that receives every alert and its resolution." }),
    alertDeadmanUrl: optionalSecretKey(text(secretCheck(httpUrlProblem, "an http(s):// URL")), {
        description:
            "A dead-man service off the VPS (e.g. a healthchecks.io ping URL) that the always-firing Watchdog alert pings every alertDeadmanIntervalSeconds; it must alert when the pings stop, since a dead VPS cannot report itself.",
    }),
    alertDeadmanIntervalSeconds: key(integer(10, 3600), { default: 60, description: "How often the Watchdog pings alertDeadmanUrl." }),
    alertGroupWaitSeconds: key(integer(0, 600), { default: 30, description: "How long Alertmanager gathers alerts of a group before the first notification." }),
    alertGroupIntervalSeconds: key(integer(10, 3600), {
        default: 300,
        description: "How long Alertmanager waits before telling of a change in a group already notified (a new alert in it, or its resolution).",
    }),
    alertApiP95Milliseconds: key(integer(10, 600000), { default: 1000, description: "The API's p95 latency (over 5 min) above which ApiLatencyHigh fires when it lasts 10 min." }),
    alertPoolerWaitSeconds: key(integer(1, 600), { default: 5, description: "How long a client may wait for a PgBouncer server connection before PgBouncerClientsWaiting fires." }),
    alertDiskUsedPercent: key(integer(10, 99), { default: 80, description: "Disk use of a filesystem above which HostDiskSpaceLow fires." }),
    alertBackupSlackHours: key(integer(1, 168), {
        default: 6,
        description: "A backup (or drill) is late when its newest one is older than the longest gap of its schedule plus this many hours.",
    }),

    // Data migration (Supabase -> this Postgres)
    migrationRunId: key(text(orEmpty(pattern(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "letters, digits, dots, dashes or underscores (at most 64)"))), {
        default: "",
        description: "Set (or change) to run the migration dump -> restore -> verify once; unchanged, nothing re-runs. Empty: no migration in this stack.",
    }),
    migrationSourceDatabaseUrl: optionalSecretKey(text(postgresUrl), {
        description: "postgresql:// URL of the Supabase database (direct or session pooler, port 5432). Required when migrationRunId is set.",
    }),
    migrationAuthSourceDatabaseUrl: optionalSecretKey(text(postgresUrl), {
        description:
            "postgresql:// URL of a database holding the SuperTokens Cloud core's tables (the export SuperTokens support sends, restored anywhere the VPS reaches). Set: the migration run also moves the auth data, password hashes and signing keys included, into the supertokens database.",
    }),
    migrationSchemas: key(text(migrationSchemas), {
        default: "public",
        description: "Comma-separated app schemas to move (pg-migrate's SCHEMAS).",
    }),
    migrationJobs: key(integer(1, 16), { default: 2, description: "Parallel jobs for dump, restore and verify." }),
    migrationRls: key(oneOf(MIGRATION_RLS), {
        default: "disable",
        description: "Row level security of migrated tables: disable (the app is the only client) or keep-rewritten (policies kept, auth.* rewritten).",
    }),
    migrationMode: key(oneOf(MIGRATION_MODES), {
        default: "dump",
        description:
            "dump: dump -> restore -> verify with writes stopped throughout (minutes per GB). replicate: logical replication while the app keeps writing, writes stopped only for the cutover's seconds; run in phases (migrationPhase).",
    }),
    migrationPhase: key(oneOf(MIGRATION_PHASES), {
        default: "sync",
        description:
            "migrationMode replicate only: sync (schema, publication, subscription, wait for the copy), then cutover (freeze, catch up, sequences, verify, drop the replication: what opens prod's DNS), or abort (drop the replication, make the source writable, put the target back).",
    }),
    migrationFreezeRoles: key(text(orEmpty(pattern(/^[A-Za-z_][A-Za-z0-9_]*(,[A-Za-z_][A-Za-z0-9_]*)*$/, "comma-separated role names"))), {
        default: "",
        description: "migrationPhase cutover: every role the app writes to Supabase as (e.g. authenticator,postgres); made read-only there for the freeze and after it.",
    }),
    migrationCutoverMaxLagBytes: key(integer(0, 1073741824), {
        default: 16777216,
        description: "The cutover is refused while the replication lag is above this many bytes (the freeze would last while it catches up).",
    }),
    migrationForce: key(flag(), {
        default: false,
        description:
            "Let a new run replace an app database that already has tables (the app database only, never the SuperTokens core's). Off: a second restore is refused and changes nothing.",
    }),
};

export type ConfigKeyName = keyof typeof KEYS;

/** Each key's typed value, inferred from its schema; optional secrets may be unset. */
export type ConfigValues = {
    [K in ConfigKeyName]: (typeof KEYS)[K] extends { optional: true } ? z.output<(typeof KEYS)[K]["schema"]> | undefined : z.output<(typeof KEYS)[K]["schema"]>;
};

/** The declarations as the docs generator and tests read them. */
export const CONFIG_KEYS: readonly { key: ConfigKeyName; type: KeyType; description: string; default?: RawDefault; secret?: boolean; optional?: boolean }[] = (
    Object.entries(KEYS) as [ConfigKeyName, KeySpec<unknown>][]
).map(([name, spec]) => ({ key: name, type: spec.type, description: spec.description, default: spec.default, secret: spec.secret, optional: spec.optional }));

// ---- Rules across keys ---------------------------------------------------------------

interface Rule {
    /** The key the user should change, named in the message. */
    key: ConfigKeyName;
    /** The keys the rule reads: it is checked only when each of them is fine on its own. */
    inputs: ConfigKeyName[];
    check: (v: ConfigValues) => string | undefined;
}

/** The hostnames the stack serves, from frontendHost and apiHost or their defaults. */
function hostnames(v: Pick<ConfigValues, "environment" | "domain" | "frontendHost" | "apiHost">): { frontendHost: string; apiHost: string } {
    const prod = v.environment === "prod";
    return {
        frontendHost: v.frontendHost || (prod ? v.domain : `${v.environment}.${v.domain}`),
        apiHost: v.apiHost || (prod ? `api.${v.domain}` : `api-${v.environment}.${v.domain}`),
    };
}

const limitKeys = (limit: "memory" | "cpus") =>
    (Object.entries(KEYS) as [ConfigKeyName, KeySpec<unknown>][]).filter(([, spec]) => spec.containerLimit === limit).map(([name]) => name);
const memoryKeys = limitKeys("memory");
const cpuKeys = limitKeys("cpus");

/** The sum of every container's memory limit: each `<area>MemoryMb` key declared with containerLimits. */
export function containerMemoryMb(v: ConfigValues): number {
    return memoryKeys.reduce((sum, name) => sum + (v[name] as number), 0);
}

const appSource = (area: "backend" | "frontend"): Rule => ({
    key: `${area}Image`,
    inputs: [`${area}Image`, `${area}BuildContext`],
    check: (v) => {
        const hasImage = v[`${area}Image`] !== "";
        if (hasImage !== (v[`${area}BuildContext`] !== "")) return undefined;
        return `expected exactly one of ${area}Image and ${area}BuildContext, got ${hasImage ? "both" : "neither"}`;
    },
});

const legacyTarget = (name: "dnsLegacyFrontendTarget" | "dnsLegacyApiTarget"): Rule => ({
    key: name,
    inputs: ["dnsZoneId", "dnsTarget", name],
    check: (v) => (v.dnsZoneId !== "" && v.dnsTarget === "legacy" && v[name] === "" ? "required while dnsTarget is legacy (the old host to point at); got nothing" : undefined),
});

/** The offsite repository's keys: all of them or none. */
const OFFSITE_REQUIRED = ["backupOffsiteBucket", "backupOffsiteAccessKeyId", "backupOffsiteSecretAccessKey"] as const;
const offsiteRequired = (name: (typeof OFFSITE_REQUIRED)[number]): Rule => ({
    key: name,
    inputs: ["backupOffsiteEndpoint", name],
    check: (v) => {
        const value = v[name];
        if (v.backupOffsiteEndpoint !== "" && (value === undefined || value === "")) {
            return `required with backupOffsiteEndpoint (the offsite repository); set it with \`pulumi config set ${KEYS[name].secret ? "--secret " : ""}${name} ...\`; got nothing`;
        }
        if (v.backupOffsiteEndpoint === "" && value !== undefined && value !== "") return "set without backupOffsiteEndpoint: set the endpoint too, or remove this key";
        return undefined;
    },
});

export const RULES: readonly Rule[] = [
    {
        key: "apiHost",
        inputs: ["environment", "domain", "frontendHost", "apiHost"],
        check: (v) => {
            const { frontendHost, apiHost } = hostnames(v);
            return frontendHost === apiHost ? `expected a hostname different from frontendHost, got ${JSON.stringify(apiHost)} for both` : undefined;
        },
    },
    ...cpuKeys.map(
        (name): Rule => ({
            key: name,
            inputs: [name, "hostCpus"],
            check: (v) =>
                (v[name] as number) > v.hostCpus
                    ? `expected a number of CPUs greater than 0 and at most hostCpus (${v.hostCpus}), got ${JSON.stringify(String(v[name]))}`
                    : undefined,
        }),
    ),
    {
        key: "hostSshPort",
        inputs: ["hostSshPort"],
        check: (v) =>
            (PROXY_PORTS as readonly number[]).includes(v.hostSshPort)
                ? `expected a port other than ${PROXY_PORTS.join(" and ")} (the proxy publishes them, and the firewall refuses SSH among them), got ${v.hostSshPort}`
                : undefined,
    },
    {
        key: "postgresImage",
        inputs: ["postgresImage", "postgresMajorVersion"],
        check: (v) => {
            const tagMajor = /^v?(\d+)/.exec(imageTag(v.postgresImage))?.[1];
            return tagMajor !== undefined && Number(tagMajor) !== v.postgresMajorVersion
                ? `expected an image of major version ${v.postgresMajorVersion} (postgresMajorVersion), got ${JSON.stringify(v.postgresImage)}`
                : undefined;
        },
    },
    {
        // Postgres's side: the pooler's server connections (its pool and reserve pool),
        // SuperTokens' own pool and the held connections must fit in max_connections.
        key: "poolerDefaultPoolSize",
        inputs: ["postgresMaxConnections", "supertokensPoolSize", "poolerDefaultPoolSize"],
        check: (v) => {
            const budget = v.postgresMaxConnections - RESERVE_POOL_SIZE - v.supertokensPoolSize - HELD_CONNECTIONS;
            return v.poolerDefaultPoolSize > budget
                ? `expected at most ${budget} (postgresMaxConnections ${v.postgresMaxConnections} minus PgBouncer's reserve pool ${RESERVE_POOL_SIZE} minus supertokensPoolSize ${v.supertokensPoolSize} minus ${HELD_CONNECTIONS} held for superusers, monitoring and backups), or raise postgresMaxConnections; got ${v.poolerDefaultPoolSize}`
                : undefined;
        },
    },
    {
        // The pooler's side: every backend container's pool (DB_POOL_SIZE, two containers
        // during a deploy) and the admin clients are PgBouncer clients.
        key: "poolerMaxClientConn",
        inputs: ["poolerDefaultPoolSize", "poolerMaxClientConn"],
        check: (v) => {
            const needed = v.poolerDefaultPoolSize * BACKEND_CONTAINERS_AT_ONCE + POOLER_ADMIN_CLIENTS;
            return v.poolerMaxClientConn < needed
                ? `expected at least ${needed} (the backend's DB_POOL_SIZE, poolerDefaultPoolSize ${v.poolerDefaultPoolSize}, times ${BACKEND_CONTAINERS_AT_ONCE} backend containers during a deploy, plus ${POOLER_ADMIN_CLIENTS} admin clients), got ${v.poolerMaxClientConn}`
                : undefined;
        },
    },
    {
        key: "alertPoolerWaitSeconds",
        inputs: ["alertPoolerWaitSeconds"],
        check: (v) =>
            v.alertPoolerWaitSeconds >= QUERY_WAIT_TIMEOUT_SECONDS
                ? `expected less than PgBouncer's query_wait_timeout (${QUERY_WAIT_TIMEOUT_SECONDS} s): a client that waits that long is disconnected, so the alert would never see the wait; got ${v.alertPoolerWaitSeconds}`
                : undefined,
    },
    {
        key: "hostMemoryMb",
        inputs: ["hostMemoryMb", ...memoryKeys],
        check: (v) => {
            const total = containerMemoryMb(v);
            return total > v.hostMemoryMb ? `expected at least the sum of the containers' memory limits (${total} MiB), got ${v.hostMemoryMb}` : undefined;
        },
    },
    appSource("backend"),
    appSource("frontend"),
    {
        key: "migrationSourceDatabaseUrl",
        inputs: ["migrationRunId", "migrationSourceDatabaseUrl"],
        check: (v) =>
            v.migrationRunId !== "" && v.migrationSourceDatabaseUrl === undefined
                ? "required when migrationRunId is set; set it with `pulumi config set --secret migrationSourceDatabaseUrl ...`"
                : undefined,
    },
    legacyTarget("dnsLegacyFrontendTarget"),
    legacyTarget("dnsLegacyApiTarget"),
    {
        key: "dnsIpv4Address",
        inputs: ["dnsZoneId", "dnsTarget", "dnsIpv4Address", "hostAddress"],
        check: (v) =>
            v.dnsZoneId !== "" && v.dnsTarget === "vps" && v.dnsIpv4Address === "" && !isIpv4(v.hostAddress)
                ? `required with dnsTarget vps when hostAddress is not an IPv4 address (${JSON.stringify(v.hostAddress)}); got nothing`
                : undefined,
    },
    {
        key: "dnsTarget",
        inputs: ["dnsZoneId", "dnsTarget"],
        check: (v) => (v.dnsZoneId === "" && v.dnsTarget === "vps" ? 'expected legacy while dnsZoneId is empty (no DNS to move), got "vps"' : undefined),
    },
    {
        key: "dnsTarget",
        inputs: ["environment", "dnsTarget", "migrationRunId", "dnsAllowUnverifiedCutover"],
        check: (v) =>
            v.environment === "prod" && v.dnsTarget === "vps" && v.migrationRunId === "" && !v.dnsAllowUnverifiedCutover
                ? 'expected legacy until the data migration has been verified in this stack (set migrationRunId), or dnsAllowUnverifiedCutover: true; got "vps"'
                : undefined,
    },
    {
        key: "proxyTlsMode",
        inputs: ["proxyTlsMode", "dnsZoneId", "dnsProxied"],
        check: (v) => {
            if (v.proxyTlsMode === "origin-ca" && v.dnsZoneId === "") return "origin-ca needs dnsZoneId (the certificate is issued for the zone); set dnsZoneId or use acme or internal";
            if (v.proxyTlsMode === "origin-ca" && !v.dnsProxied) return "origin-ca needs dnsProxied: true (browsers do not trust Origin CA certificates); use acme for records that are not proxied";
            if (v.proxyTlsMode === "acme" && v.dnsZoneId !== "" && v.dnsProxied) return "acme needs dnsProxied: false (the ACME challenge must reach Caddy directly); use origin-ca for proxied records";
            return undefined;
        },
    },
    {
        key: "migrationPhase",
        inputs: ["migrationMode", "migrationPhase"],
        check: (v) =>
            v.migrationMode === "dump" && v.migrationPhase !== "sync"
                ? `expected sync (the default) with migrationMode dump, which has no phases; set migrationMode replicate for ${v.migrationPhase}; got "${v.migrationPhase}"`
                : undefined,
    },
    {
        key: "migrationFreezeRoles",
        inputs: ["migrationMode", "migrationPhase", "migrationFreezeRoles"],
        check: (v) =>
            v.migrationMode === "replicate" && v.migrationPhase === "cutover" && v.migrationFreezeRoles === ""
                ? "required with migrationPhase cutover: the roles the app writes to Supabase as, made read-only for the freeze; got nothing"
                : undefined,
    },
    {
        key: "dnsTarget",
        inputs: ["environment", "dnsTarget", "migrationRunId", "migrationMode", "migrationPhase", "dnsAllowUnverifiedCutover"],
        check: (v) =>
            v.environment === "prod" && v.dnsTarget === "vps" && v.migrationRunId !== "" && v.migrationMode === "replicate" && v.migrationPhase !== "cutover" && !v.dnsAllowUnverifiedCutover
                ? `expected legacy until the replicate migration's cutover has been verified in this stack (migrationPhase cutover), or dnsAllowUnverifiedCutover: true; got "vps" with migrationPhase ${v.migrationPhase}`
                : undefined,
    },
    {
        key: "migrationForce",
        inputs: ["migrationRunId", "migrationForce", "dnsTarget"],
        check: (v) =>
            v.migrationRunId !== "" && v.migrationForce && v.dnsTarget === "vps"
                ? "expected false while dnsTarget is vps: a forced restore would replace the live database; got true"
                : undefined,
    },
    ...OFFSITE_REQUIRED.map(offsiteRequired),
    {
        key: "backupOffsiteEndpoint",
        inputs: ["environment", "backupOffsiteEndpoint", "backupAllowNoOffsite"],
        check: (v) =>
            v.environment === "prod" && v.backupOffsiteEndpoint === "" && !v.backupAllowNoOffsite
                ? "required in prod: backups only on the VPS's own disk are lost with the VPS; set the offsite store (backupOffsiteEndpoint, backupOffsiteBucket and its keys), or backupAllowNoOffsite: true; got nothing"
                : undefined,
    },
    ...(["alertEmailFrom", "alertSmtpSmarthost"] as const).map(
        (name): Rule => ({
            key: name,
            inputs: ["alertEmailTo", name],
            check: (v) => (v.alertEmailTo !== "" && v[name] === "" ? "required with alertEmailTo (the e-mail receiver); got nothing" : undefined),
        }),
    ),
    {
        key: "alertSmtpUsername",
        inputs: ["alertSmtpUsername", "alertSmtpPassword"],
        check: (v) => (v.alertSmtpPassword !== undefined && v.alertSmtpUsername === "" ? "required with alertSmtpPassword (whose password it is); got nothing" : undefined),
    },
    {
        key: "alertSmtpPassword",
        inputs: ["alertSmtpUsername", "alertSmtpPassword"],
        check: (v) =>
            v.alertSmtpUsername !== "" && v.alertSmtpPassword === undefined
                ? "required with alertSmtpUsername (the SMTP server would refuse every alert e-mail); set it with `pulumi config set --secret alertSmtpPassword ...`; got nothing"
                : undefined,
    },
    {
        key: "alertEmailTo",
        inputs: ["environment", "monitoringEnabled", "alertEmailTo", "alertWebhookUrl", "alertSlackWebhookUrl"],
        check: (v) =>
            v.environment === "prod" && v.monitoringEnabled && v.alertEmailTo === "" && v.alertWebhookUrl === undefined && v.alertSlackWebhookUrl === undefined
                ? "required in prod, or alertWebhookUrl or alertSlackWebhookUrl: an alert nobody receives tells nobody; got no receiver"
                : undefined,
    },
    {
        key: "monitoringRuleForCapSeconds",
        inputs: ["environment", "monitoringRuleForCapSeconds"],
        check: (v) =>
            v.environment === "prod" && v.monitoringRuleForCapSeconds > 0
                ? `expected 0 in prod (shortened rules page people for blips), got ${v.monitoringRuleForCapSeconds}`
                : undefined,
    },
    {
        key: "firewallCloudflareOnly",
        inputs: ["firewallCloudflareOnly", "dnsProxied"],
        check: (v) =>
            v.firewallCloudflareOnly && !v.dnsProxied
                ? "expected false while dnsProxied is false (visitors would come straight to the VPS and be dropped), got true"
                : undefined,
    },
];

// ---- Validation ------------------------------------------------------------------------

export class ConfigError extends Error {
    constructor(
        public readonly problems: string[],
        stack: string,
    ) {
        super(`Invalid configuration for stack ${stack}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

/** A default as the engine hands it over: text, lists as JSON. */
const rawText = (value: RawDefault) => (Array.isArray(value) ? JSON.stringify(value) : String(value));

/**
 * Validates raw config (`key` without namespace -> string, as Pulumi stores it) and returns
 * each key's typed value, or throws one ConfigError listing every problem. Pure.
 */
export function validateConfig(raw: Record<string, string>, secretKeys: ReadonlySet<string>, stack: string): ConfigValues {
    const problems: string[] = [];
    const refused = new Set<string>();
    const problem = (name: string, message: string) => {
        refused.add(name);
        problems.push(`${PROJECT}:${name} (stack ${stack}): ${message.replaceAll(KEY, name)}`);
    };
    const specs = KEYS as Record<string, KeySpec<unknown>>;

    for (const name of Object.keys(raw).sort()) {
        if (!(name in specs)) problem(name, "unknown key; expected one of the keys declared in Pulumi.yaml (see INFRASTRUCTURE.md)");
    }
    const values: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(specs)) {
        const given = raw[name];
        if (given === undefined && spec.default === undefined) {
            if (!spec.optional) {
                problem(name, `required (${spec.description.replace(/\.$/, "")}), got nothing; set it with \`pulumi config set ${spec.secret ? "--secret " : ""}${name} ...\``);
            }
            continue;
        }
        // Pulumi fills an unset optional key with its declared default "": that is "unset".
        if (spec.optional && given === "") continue;
        if (given !== undefined && spec.secret && !secretKeys.has(name)) {
            problem(name, `expected a secret, got a plain value (set it with \`pulumi config set --secret ${name} ...\`)`);
            continue;
        }
        const parsed = spec.schema.safeParse(given ?? rawText(spec.default as RawDefault));
        if (parsed.success) values[name] = parsed.data;
        else problem(name, parsed.error.issues[0].message);
    }
    for (const rule of RULES) {
        if (rule.inputs.some((name) => refused.has(name))) continue;
        const message = rule.check(values as ConfigValues);
        if (message) problem(rule.key, message);
    }
    if (problems.length > 0) {
        // Belt and braces: no message may carry a secret, whatever a check wrote.
        const secrets = [...secretKeys].map((name) => raw[name]).filter((s): s is string => typeof s === "string" && s.length >= 4);
        throw new ConfigError(
            problems.map((p) => secrets.reduce((text, s) => text.replaceAll(s, "[secret]"), p)),
            stack,
        );
    }
    return values as ConfigValues;
}

// ---- The typed config the components read ------------------------------------------------

export interface Limits {
    memoryMb: number;
    cpus: number;
}

/** Where an app's image comes from: a registry reference or a build context. */
export type ImageSource = { kind: "image"; ref: string } | { kind: "build"; context: string };

/** Groups the keys by component; `secret` wraps each secret value (a secret Output in the stack). */
function assemble<S>(stack: string, v: ConfigValues, secret: (value: string) => S) {
    const limits = (area: "postgres" | "pooler" | "supertokens" | "backend" | "frontend" | "proxy" | "backup" | "monitoring"): Limits => ({
        memoryMb: v[`${area}MemoryMb`],
        cpus: v[`${area}Cpus`],
    });
    const app = (area: "backend" | "frontend") => ({
        source: (v[`${area}Image`] !== "" ? { kind: "image", ref: v[`${area}Image`] } : { kind: "build", context: v[`${area}BuildContext`] }) as ImageSource,
        port: v[`${area}Port`],
        healthPath: v[`${area}HealthPath`],
        limits: limits(area),
    });
    const optionalSecret = (value: string | undefined) => (value === undefined ? undefined : secret(value));
    return {
        stack,
        environment: v.environment,
        domain: v.domain,
        ...hostnames(v),
        host: {
            address: v.hostAddress,
            sshPort: v.hostSshPort,
            sshUser: v.hostSshUser,
            sshPrivateKey: secret(v.hostSshPrivateKey),
            sshHostKey: v.hostSshHostKey.trim(),
            memoryMb: v.hostMemoryMb,
            cpus: v.hostCpus,
            swapMb: v.hostSwapMb,
            logMaxSizeMb: v.hostLogMaxSizeMb,
            logMaxFiles: v.hostLogMaxFiles,
        },
        postgres: {
            image: v.postgresImage,
            majorVersion: v.postgresMajorVersion,
            maxConnections: v.postgresMaxConnections,
            logMinDurationMs: v.postgresLogMinDurationMs,
            limits: limits("postgres"),
        },
        pooler: { image: v.poolerImage, defaultPoolSize: v.poolerDefaultPoolSize, maxClientConn: v.poolerMaxClientConn, limits: limits("pooler") },
        supertokens: { image: v.supertokensImage, poolSize: v.supertokensPoolSize, limits: limits("supertokens") },
        backend: { ...app("backend"), sentryDsn: optionalSecret(v.backendSentryDsn) },
        frontend: app("frontend"),
        proxy: { image: v.proxyImage, tlsMode: v.proxyTlsMode, acmeEmail: v.proxyAcmeEmail, hstsMaxAgeSeconds: v.proxyHstsMaxAgeSeconds, limits: limits("proxy") },
        dns: {
            /** Empty: DNS not managed. */
            zoneId: v.dnsZoneId,
            target: v.dnsTarget,
            legacyFrontendTarget: v.dnsLegacyFrontendTarget,
            legacyApiTarget: v.dnsLegacyApiTarget,
            ipv4Address: v.dnsIpv4Address,
            proxied: v.dnsProxied,
            ttl: v.dnsTtl,
            allowUnverifiedCutover: v.dnsAllowUnverifiedCutover,
            manageZoneSettings: v.dnsManageZoneSettings,
        },
        backup: {
            archiveTimeoutSeconds: v.backupArchiveTimeoutSeconds,
            schedules: { full: v.backupFullSchedule, diff: v.backupDiffSchedule, drill: v.backupDrillSchedule },
            localRetentionFull: v.backupLocalRetentionFull,
            offsite:
                v.backupOffsiteEndpoint === "" || v.backupOffsiteAccessKeyId === undefined || v.backupOffsiteSecretAccessKey === undefined
                    ? undefined
                    : {
                          endpoint: v.backupOffsiteEndpoint,
                          port: v.backupOffsitePort,
                          bucket: v.backupOffsiteBucket,
                          region: v.backupOffsiteRegion,
                          address: v.backupOffsiteAddress,
                          caCert: v.backupOffsiteCaCert,
                          retentionFull: v.backupOffsiteRetentionFull,
                          accessKeyId: secret(v.backupOffsiteAccessKeyId),
                          secretAccessKey: secret(v.backupOffsiteSecretAccessKey),
                      },
            allowNoOffsite: v.backupAllowNoOffsite,
            passphrase: optionalSecret(v.backupPassphrase),
            limits: limits("backup"),
        },
        monitoring: v.monitoringEnabled
            ? {
                  images: {
                      prometheus: v.monitoringPrometheusImage,
                      alertmanager: v.monitoringAlertmanagerImage,
                      nodeExporter: v.monitoringNodeExporterImage,
                      postgresExporter: v.monitoringPostgresExporterImage,
                      blackboxExporter: v.monitoringBlackboxExporterImage,
                      exporter: v.monitoringExporterImage,
                      /** Empty: no Grafana. */
                      grafana: v.monitoringGrafanaImage,
                  },
                  scrapeIntervalSeconds: v.monitoringScrapeIntervalSeconds,
                  retentionDays: v.monitoringRetentionDays,
                  ruleForCapSeconds: v.monitoringRuleForCapSeconds,
                  limits: limits("monitoring"),
                  thresholds: {
                      apiP95Seconds: v.alertApiP95Milliseconds / 1000,
                      poolerWaitSeconds: v.alertPoolerWaitSeconds,
                      diskUsedRatio: v.alertDiskUsedPercent / 100,
                      backupMaxAgeSeconds:
                          cronLongestGapSeconds(...[v.backupFullSchedule, v.backupDiffSchedule].filter((schedule) => schedule !== "")) + v.alertBackupSlackHours * 3600,
                      drillMaxAgeSeconds: cronLongestGapSeconds(v.backupDrillSchedule) + v.alertBackupSlackHours * 3600,
                  },
                  receivers: {
                      email:
                          v.alertEmailTo === ""
                              ? undefined
                              : {
                                    to: v.alertEmailTo,
                                    from: v.alertEmailFrom,
                                    smarthost: v.alertSmtpSmarthost,
                                    username: v.alertSmtpUsername,
                                    password: optionalSecret(v.alertSmtpPassword),
                                },
                      webhookUrl: optionalSecret(v.alertWebhookUrl),
                      slackWebhookUrl: optionalSecret(v.alertSlackWebhookUrl),
                  },
                  deadman: v.alertDeadmanUrl === undefined ? undefined : { url: secret(v.alertDeadmanUrl), intervalSeconds: v.alertDeadmanIntervalSeconds },
                  groupWaitSeconds: v.alertGroupWaitSeconds,
                  groupIntervalSeconds: v.alertGroupIntervalSeconds,
              }
            : undefined,
        firewall: { enabled: v.firewallEnabled, adminCidrs: v.firewallAdminCidrs, cloudflareOnly: v.firewallCloudflareOnly },
        migration:
            v.migrationRunId === "" || v.migrationSourceDatabaseUrl === undefined
                ? undefined
                : {
                      runId: v.migrationRunId,
                      sourceDatabaseUrl: secret(v.migrationSourceDatabaseUrl),
                      authSourceDatabaseUrl: optionalSecret(v.migrationAuthSourceDatabaseUrl),
                      schemas: v.migrationSchemas,
                      jobs: v.migrationJobs,
                      rls: v.migrationRls,
                      force: v.migrationForce,
                      mode: v.migrationMode,
                      phase: v.migrationPhase,
                      freezeRoles: v.migrationFreezeRoles,
                      cutoverMaxLagBytes: v.migrationCutoverMaxLagBytes,
                  },
    };
}

/** The validated configuration, grouped by component. `S` is how secrets are carried: strings in the pure parser, Outputs in the stack. */
export type StackConfig<S = pulumi.Output<string>> = ReturnType<typeof assemble<S>>;
export type AppConfig = StackConfig["frontend"];

/** Validates raw config and groups it, secrets as plain strings. Pure: no Pulumi runtime, no I/O. */
export function parseConfig(raw: Record<string, string>, secretKeys: ReadonlySet<string>, stack: string): StackConfig<string> {
    return assemble(stack, validateConfig(raw, secretKeys, stack), (s) => s);
}

/** The SDK knows which keys were set with --secret but keeps the function out of its typings. */
function isConfigSecret(fullKey: string): boolean {
    const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
    if (typeof runtime.isConfigSecret !== "function") throw new Error("this @pulumi/pulumi cannot tell secret config keys apart");
    return runtime.isConfigSecret(fullKey);
}

/**
 * Reads the stack's config from the Pulumi runtime, validates it, and returns it with
 * secrets as secret Outputs. Throws before any resource is registered.
 */
export function loadConfig(): StackConfig {
    const stack = pulumi.getStack();
    const prefix = `${PROJECT}:`;
    const raw: Record<string, string> = {};
    const secretKeys = new Set<string>();
    for (const [fullKey, v] of Object.entries(pulumi.runtime.allConfig())) {
        if (!fullKey.startsWith(prefix)) continue;
        const name = fullKey.slice(prefix.length);
        raw[name] = v;
        if (isConfigSecret(fullKey)) secretKeys.add(name);
    }
    return assemble(stack, validateConfig(raw, secretKeys, stack), (s) => pulumi.secret(s));
}
