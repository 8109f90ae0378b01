// The stack's configuration: one declaration of every key (CONFIG_KEYS), a pure
// validator (parseConfig) that reports every problem at once, and the loader
// (loadConfig) that reads Pulumi's config and turns secret values into secret Outputs.
// Pulumi.yaml's `config:` section and INFRASTRUCTURE.md's key table are generated
// from CONFIG_KEYS (tools/gen-docs.ts); a test fails when they drift.
import * as pulumi from "@pulumi/pulumi";
import { cpusStable } from "./components/shared/cpus";

export const PROJECT = "byte-runner-infra";

export type KeyType = "string" | "integer" | "boolean" | "array";

export interface ConfigKey {
    /** Key inside the project's namespace, e.g. `poolerDefaultPoolSize`. */
    key: string;
    type: KeyType;
    description: string;
    /** Absent for required keys. Secrets never have a default. */
    default?: string | number | boolean | string[];
    /** Must be set with `pulumi config set --secret`; a plain value is rejected. */
    secret?: boolean;
    /** May be left unset (Pulumi.yaml then declares the default "", which means unset). */
    optional?: boolean;
}

const STANDARD_CPUS = "decimal number of CPUs";

/** Every key the project reads. Order is the order of the docs. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
    // The product
    { key: "environment", type: "string", description: "Which environment this stack is: prod, staging or local (hostnames and NODE_ENV follow from it)." },
    { key: "domain", type: "string", description: "The product's apex domain, e.g. byte-runner.app." },
    { key: "frontendHost", type: "string", default: "", description: "Hostname of the web frontend. Empty: the domain in prod, <environment>.<domain> otherwise." },
    { key: "apiHost", type: "string", default: "", description: "Hostname of the backend API. Empty: api.<domain> in prod, api-<environment>.<domain> otherwise (one level below the domain, so Cloudflare's universal certificate covers it when proxied)." },

    // The VPS
    { key: "hostAddress", type: "string", description: "Public IPv4/IPv6 address or DNS name of the VPS." },
    { key: "hostSshPort", type: "integer", default: 22, description: "SSH port of the VPS." },
    { key: "hostSshUser", type: "string", default: "root", description: "SSH user: root, or a user with passwordless sudo." },
    { key: "hostSshPrivateKey", type: "string", secret: true, description: "OpenSSH private key (PEM/OpenSSH format) that logs in as hostSshUser." },
    { key: "hostSshHostKey", type: "string", description: "The VPS's public SSH host key (`ssh-ed25519 AAAA...`), pinned: host key checking is never turned off." },
    { key: "hostMemoryMb", type: "integer", default: 8192, description: "Memory of the VPS in MiB; container limits must fit inside it." },
    { key: "hostCpus", type: "integer", default: 4, description: "vCPUs of the VPS; no container may be given more." },
    { key: "hostSwapMb", type: "integer", default: 2048, description: "Swap file the bootstrap creates, in MiB (0: none)." },
    { key: "hostLogMaxSizeMb", type: "integer", default: 10, description: "Docker json-file log rotation: size of one log file in MiB." },
    { key: "hostLogMaxFiles", type: "integer", default: 5, description: "Docker json-file log rotation: files kept per container." },

    // Postgres
    { key: "postgresImage", type: "string", default: "postgres:15.18-bookworm", description: "Postgres image, pinned by version; its major must equal postgresMajorVersion." },
    { key: "postgresMajorVersion", type: "integer", default: 15, description: "Postgres major version; must match the Supabase source so dump and restore tools agree." },
    { key: "postgresMaxConnections", type: "integer", default: 100, description: "max_connections of the server." },
    { key: "postgresMemoryMb", type: "integer", default: 2048, description: "Memory limit of the Postgres container in MiB; shared_buffers, effective_cache_size and work_mem are derived from it." },
    { key: "postgresCpus", type: "string", default: "2", description: `CPU limit of the Postgres container (${STANDARD_CPUS}).` },
    { key: "postgresLogMinDurationMs", type: "integer", default: 500, description: "Slow-query log threshold (log_min_duration_statement) in ms; -1 disables." },

    // Pooler
    { key: "poolerImage", type: "string", default: "edoburu/pgbouncer:v1.24.1-p1", description: "PgBouncer image, pinned by version." },
    { key: "poolerDefaultPoolSize", type: "integer", default: 10, description: "PgBouncer default_pool_size: server connections per database/user pair; also the backend's DB_POOL_SIZE." },
    { key: "poolerMaxClientConn", type: "integer", default: 500, description: "PgBouncer max_client_conn." },
    { key: "poolerMemoryMb", type: "integer", default: 128, description: "Memory limit of the PgBouncer container in MiB." },
    { key: "poolerCpus", type: "string", default: "0.5", description: `CPU limit of the PgBouncer container (${STANDARD_CPUS}).` },

    // SuperTokens
    { key: "supertokensImage", type: "string", default: "registry.supertokens.io/supertokens/supertokens-postgresql:11.0.0", description: "SuperTokens Core image, pinned by version." },
    { key: "supertokensPoolSize", type: "integer", default: 10, description: "SuperTokens Core's own connection pool to Postgres (POSTGRESQL_CONNECTION_POOL_SIZE)." },
    { key: "supertokensMemoryMb", type: "integer", default: 512, description: "Memory limit of the SuperTokens Core container in MiB." },
    { key: "supertokensCpus", type: "string", default: "1", description: `CPU limit of the SuperTokens Core container (${STANDARD_CPUS}).` },

    // Apps
    { key: "backendImage", type: "string", default: "", description: "Backend image reference (registry/name:tag or @sha256 digest). Exactly one of backendImage and backendBuildContext." },
    { key: "backendBuildContext", type: "string", default: "", description: "Directory with the backend's Dockerfile, built on the VPS. Exactly one of backendImage and backendBuildContext." },
    { key: "backendPort", type: "integer", default: 4000, description: "Port the NestJS backend listens on inside its container." },
    { key: "backendHealthPath", type: "string", default: "/health", description: "HTTP path that answers 200 when the backend is healthy." },
    { key: "backendMemoryMb", type: "integer", default: 1024, description: "Memory limit of the backend container in MiB." },
    { key: "backendCpus", type: "string", default: "2", description: `CPU limit of the backend container (${STANDARD_CPUS}).` },
    { key: "backendSentryDsn", type: "string", secret: true, optional: true, description: "Optional Sentry DSN given to the backend as SENTRY_DSN." },
    { key: "frontendImage", type: "string", default: "", description: "Frontend image reference. Exactly one of frontendImage and frontendBuildContext." },
    { key: "frontendBuildContext", type: "string", default: "", description: "Directory with the frontend's Dockerfile, built on the VPS. Exactly one of frontendImage and frontendBuildContext." },
    { key: "frontendPort", type: "integer", default: 3000, description: "Port the frontend listens on inside its container." },
    { key: "frontendHealthPath", type: "string", default: "/", description: "HTTP path that answers 200 when the frontend is healthy." },
    { key: "frontendMemoryMb", type: "integer", default: 512, description: "Memory limit of the frontend container in MiB." },
    { key: "frontendCpus", type: "string", default: "1", description: `CPU limit of the frontend container (${STANDARD_CPUS}).` },

    // Proxy
    { key: "proxyImage", type: "string", default: "caddy:2.10.2-alpine", description: "Caddy image, pinned by version." },
    { key: "proxyTlsMode", type: "string", default: "origin-ca", description: "How Caddy gets certificates: origin-ca (a Cloudflare Origin CA certificate made as code, for proxied records), acme (Caddy's automatic HTTPS, for records that are not proxied) or internal (Caddy's own CA, for local and test stacks)." },
    { key: "proxyAcmeEmail", type: "string", default: "", description: "Contact e-mail for the ACME account (acme mode); empty: none." },
    { key: "proxyHstsMaxAgeSeconds", type: "integer", default: 31536000, description: "Strict-Transport-Security max-age sent on every response (0: no HSTS header)." },
    { key: "proxyMemoryMb", type: "integer", default: 256, description: "Memory limit of the Caddy container in MiB." },
    { key: "proxyCpus", type: "string", default: "1", description: `CPU limit of the Caddy container (${STANDARD_CPUS}).` },

    // DNS (Cloudflare) and the cutover
    { key: "dnsZoneId", type: "string", default: "", description: "Cloudflare zone id of the domain (32 hex characters). Empty: DNS is not managed by this stack." },
    { key: "dnsTarget", type: "string", default: "legacy", description: "Where the product's records point: legacy (the old hosts, dns.legacy*Target) or vps (this VPS). Flipping it is the cutover; flipping it back is the rollback." },
    { key: "dnsLegacyFrontendTarget", type: "string", default: "", description: "Old host of the frontend (a CNAME target, e.g. the Railway domain), used while dnsTarget is legacy." },
    { key: "dnsLegacyApiTarget", type: "string", default: "", description: "Old host of the API (a CNAME target, e.g. the Railway domain), used while dnsTarget is legacy." },
    { key: "dnsIpv4Address", type: "string", default: "", description: "IPv4 address the A records get with dnsTarget vps. Empty: hostAddress (which must then be an IPv4 address)." },
    { key: "dnsProxied", type: "boolean", default: true, description: "Proxy the records through Cloudflare (a flip takes effect at the edge at once; TTL is automatic)." },
    { key: "dnsTtl", type: "integer", default: 300, description: "TTL in seconds of records that are not proxied (lower it to 60 a day before a cutover)." },
    { key: "dnsAllowUnverifiedCutover", type: "boolean", default: false, description: "Prod only: allow dnsTarget vps without a verified data migration in this stack. Loud in every preview." },
    { key: "dnsManageZoneSettings", type: "boolean", default: false, description: "Set the zone's SSL mode to Full (strict) (origin-ca mode). Off when the zone is shared with things this stack does not own." },

    // Host firewall
    { key: "firewallEnabled", type: "boolean", default: true, description: "Apply the host firewall (nftables): default deny inbound, SSH from firewallAdminCidrs, 80/443 public; Docker-published ports cannot bypass it." },
    { key: "firewallAdminCidrs", type: "array", default: [], description: "CIDRs allowed to reach SSH. Empty: everywhere (a warning in every preview)." },
    { key: "firewallCloudflareOnly", type: "boolean", default: false, description: "Accept 80/443 only from Cloudflare's published ranges (components/firewall/cloudflare-ips.txt); for proxied records." },

    // Data migration (Supabase -> this Postgres)
    { key: "migrationRunId", type: "string", default: "", description: "Set (or change) to run the migration dump -> restore -> verify once; unchanged, nothing re-runs. Empty: no migration in this stack." },
    { key: "migrationSourceDatabaseUrl", type: "string", secret: true, optional: true, description: "postgresql:// URL of the Supabase database (direct or session pooler, port 5432). Required when migrationRunId is set." },
    { key: "migrationAuthSourceDatabaseUrl", type: "string", secret: true, optional: true, description: "postgresql:// URL of a database holding the SuperTokens Cloud core's tables (the export SuperTokens support sends, restored anywhere the VPS reaches). Set: the migration run also moves the auth data, password hashes and signing keys included, into the supertokens database." },
    { key: "migrationSchemas", type: "string", default: "public", description: "Comma-separated app schemas to move (pg-migrate's SCHEMAS)." },
    { key: "migrationJobs", type: "integer", default: 2, description: "Parallel jobs for dump, restore and verify." },
    { key: "migrationRls", type: "string", default: "disable", description: "Row level security of migrated tables: disable (the app is the only client) or keep-rewritten (policies kept, auth.* rewritten)." },
    { key: "migrationForce", type: "boolean", default: false, description: "Let a new run replace an app database that already has tables (the app database only, never the SuperTokens core's). Off: a second restore is refused and changes nothing." },
];

/** Connections Postgres keeps for superuser maintenance, migrations and monitoring. */
export const RESERVED_CONNECTIONS = 5;
export const TLS_MODES = ["origin-ca", "acme", "internal"] as const;
export const DNS_TARGETS = ["legacy", "vps"] as const;
export type DnsTarget = (typeof DNS_TARGETS)[number];
export type TlsMode = (typeof TLS_MODES)[number];
export const ENVIRONMENTS = ["prod", "staging", "local"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export interface Limits {
    memoryMb: number;
    cpus: number;
}

/** Where an app's image comes from: a registry reference or a build context. */
export type ImageSource = { kind: "image"; ref: string } | { kind: "build"; context: string };

export interface AppConfig {
    source: ImageSource;
    port: number;
    healthPath: string;
    limits: Limits;
}

/** The validated configuration. `S` is how secrets are carried: strings in the pure parser, Outputs in the stack. */
export interface StackConfig<S = pulumi.Output<string>> {
    stack: string;
    environment: Environment;
    domain: string;
    frontendHost: string;
    apiHost: string;
    host: {
        address: string;
        sshPort: number;
        sshUser: string;
        sshPrivateKey: S;
        sshHostKey: string;
        memoryMb: number;
        cpus: number;
        swapMb: number;
        logMaxSizeMb: number;
        logMaxFiles: number;
    };
    postgres: {
        image: string;
        majorVersion: number;
        maxConnections: number;
        logMinDurationMs: number;
        limits: Limits;
    };
    pooler: { image: string; defaultPoolSize: number; maxClientConn: number; limits: Limits };
    supertokens: { image: string; poolSize: number; limits: Limits };
    backend: AppConfig & { sentryDsn?: S };
    frontend: AppConfig;
    proxy: { image: string; tlsMode: TlsMode; acmeEmail: string; hstsMaxAgeSeconds: number; limits: Limits };
    dns: {
        /** Empty: DNS not managed. */
        zoneId: string;
        target: DnsTarget;
        legacyFrontendTarget: string;
        legacyApiTarget: string;
        ipv4Address: string;
        proxied: boolean;
        ttl: number;
        allowUnverifiedCutover: boolean;
        manageZoneSettings: boolean;
    };
    firewall: { enabled: boolean; adminCidrs: string[]; cloudflareOnly: boolean };
    migration?: { runId: string; sourceDatabaseUrl: S; authSourceDatabaseUrl?: S; schemas: string; jobs: number; rls: "disable" | "keep-rewritten"; force: boolean };
}

export class ConfigError extends Error {
    constructor(public readonly problems: string[], stack: string) {
        super(`Invalid configuration for stack ${stack}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "ConfigError";
    }
}

const HOSTNAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9a-f:]+$/i;
const HOST_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/;
const CPUS = /^\d+(\.\d+)?$/;
// registry/path:tag or registry/path@sha256:<64 hex> (tag optional before the digest).
const IMAGE_REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

/** True for a pinned image reference: a tag other than `latest`, or a digest. */
export function isPinnedImage(ref: string): boolean {
    if (!IMAGE_REF.test(ref)) return false;
    if (ref.includes("@sha256:")) return true;
    const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
    const tag = lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : "";
    return tag !== "" && tag !== "latest";
}

/** The tag of an image reference (empty when it has none). */
export function imageTag(ref: string): string {
    const withoutDigest = ref.split("@")[0];
    const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf("/") + 1);
    return lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : "";
}

/** An IPv4 or IPv6 CIDR such as 198.51.100.0/24 or 2001:db8::/32. */
export function isCidr(value: string): boolean {
    const [address, bits, extra] = value.split("/");
    if (extra !== undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return false;
    if (IPV4.test(address)) return Number(bits) <= 32;
    return address.includes(":") && IPV6.test(address) && Number(bits) <= 128;
}

/** A lower-case DNS name with at least two labels and an alphabetic top-level label. */
export function isHostname(value: string): boolean {
    return HOSTNAME.test(value) && /[a-z]/.test(value.slice(value.lastIndexOf(".") + 1));
}

/**
 * Validates raw config (`key` without namespace -> string, as Pulumi stores it) and
 * returns the typed config, or throws one ConfigError listing every problem.
 * Pure: no Pulumi runtime, no I/O.
 */
export function parseConfig(raw: Record<string, string>, secretKeys: ReadonlySet<string>, stack: string): StackConfig<string> {
    const problems: string[] = [];
    const name = (key: string) => `${PROJECT}:${key} (stack ${stack})`;
    const problem = (key: string, message: string) => problems.push(`${name(key)}: ${message}`);
    const declared = new Map(CONFIG_KEYS.map((k) => [k.key, k]));

    for (const key of Object.keys(raw).sort()) {
        if (!declared.has(key)) {
            problem(key, "unknown key; expected one of the keys declared in Pulumi.yaml (see INFRASTRUCTURE.md)");
        }
    }

    // Raw value or default; undefined when neither. Reports missing and secret problems.
    const value = (key: string): string | undefined => {
        const decl = declared.get(key);
        if (!decl) throw new Error(`config key ${key} is not declared`);
        const given = raw[key];
        if (given === undefined) {
            if (decl.default === undefined && !decl.optional) {
                problem(key, `required (${decl.description.replace(/\.$/, "")}), got nothing; set it with \`pulumi config set ${decl.secret ? "--secret " : ""}${key} ...\``);
            }
            if (decl.default === undefined) return undefined;
            return Array.isArray(decl.default) ? JSON.stringify(decl.default) : String(decl.default);
        }
        // Pulumi fills an unset optional key with its declared default "": that is "unset".
        if (decl.optional && given === "") return undefined;
        if (decl.secret && !secretKeys.has(key)) {
            problem(key, `expected a secret, got a plain value (set it with \`pulumi config set --secret ${key} ...\`)`);
            return undefined;
        }
        return given;
    };

    const str = (key: string, check?: (v: string) => string | undefined): string => {
        const v = value(key);
        if (v === undefined) return "";
        const bad = check?.(v);
        if (bad) problem(key, bad);
        return v;
    };
    const int = (key: string, min: number, max: number): number => {
        const v = value(key);
        if (v === undefined) return 0;
        if (!/^-?\d+$/.test(v.trim())) {
            problem(key, `expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
            return 0;
        }
        const n = Number(v);
        if (n < min || n > max) problem(key, `expected an integer from ${min} to ${max}, got ${n}`);
        return n;
    };
    const bool = (key: string): boolean => {
        const v = value(key);
        if (v === undefined) return false;
        if (v !== "true" && v !== "false") {
            problem(key, `expected true or false, got ${JSON.stringify(v)}`);
            // The default, so that rules across keys do not pile on a second message.
            return declared.get(key)?.default === true;
        }
        return v === "true";
    };
    const list = (key: string, check: (item: string) => boolean, what: string): string[] => {
        const v = value(key);
        if (v === undefined) return [];
        let items: unknown;
        try {
            items = JSON.parse(v);
        } catch {
            items = undefined;
        }
        if (!Array.isArray(items) || !items.every((i) => typeof i === "string")) {
            problem(key, `expected a list of ${what} (pulumi config set --path '${key}[0]' ...), got ${JSON.stringify(v)}`);
            return [];
        }
        const bad = (items as string[]).filter((i) => !check(i));
        if (bad.length > 0) problem(key, `expected a list of ${what}, got ${bad.map((b) => JSON.stringify(b)).join(", ")}`);
        return items as string[];
    };
    const oneOf = <T extends string>(key: string, allowed: readonly T[]): T =>
        str(key, (v) => (allowed.includes(v as T) ? undefined : `expected one of ${allowed.join(", ")}, got ${JSON.stringify(v)}`)) as T;
    const secret = (key: string): string => value(key) ?? "";
    const hostname = (v: string) => (isHostname(v) ? undefined : `expected a lower-case DNS hostname such as example.com, got ${JSON.stringify(v)}`);
    const pinned = (v: string) =>
        isPinnedImage(v) ? undefined : `expected an image pinned by version (name:tag, tag not latest, or @sha256 digest), got ${JSON.stringify(v)}`;
    const limits = (area: string, hostCpus: number): Limits => {
        const memoryMb = int(`${area}MemoryMb`, 64, 1048576);
        const cpusRaw = str(`${area}Cpus`, (v) =>
            !(CPUS.test(v) && Number(v) > 0 && Number(v) <= Math.max(hostCpus, 0.01))
                ? `expected a number of CPUs greater than 0 and at most hostCpus (${hostCpus}), got ${JSON.stringify(v)}`
                : !cpusStable(Number(v))
                  ? `expected a CPU limit Docker keeps as given (0.1 or more, such as 0.5, 1 or 1.25), got ${JSON.stringify(v)}`
                  : undefined,
        );
        return { memoryMb, cpus: Number(cpusRaw) || 0 };
    };
    const app = (area: "backend" | "frontend", hostCpus: number): AppConfig => {
        const image = str(`${area}Image`, (v) => (v === "" ? undefined : pinned(v)));
        const context = str(`${area}BuildContext`);
        if ((image === "") === (context === "")) {
            problems.push(
                `${name(`${area}Image`)}: expected exactly one of ${area}Image and ${area}BuildContext, got ${image === "" ? "neither" : "both"}`,
            );
        }
        const source: ImageSource = image !== "" ? { kind: "image", ref: image } : { kind: "build", context };
        return {
            source,
            port: int(`${area}Port`, 1, 65535),
            healthPath: str(`${area}HealthPath`, (v) => (/^\/[^\s]*$/.test(v) ? undefined : `expected a path starting with /, got ${JSON.stringify(v)}`)),
            limits: limits(area, hostCpus),
        };
    };

    const environment = oneOf("environment", ENVIRONMENTS);
    const domain = str("domain", hostname);
    const prod = environment === "prod";
    const frontendHost = str("frontendHost", (v) => (v === "" ? undefined : hostname(v))) || (prod ? domain : `${environment}.${domain}`);
    const apiHost = str("apiHost", (v) => (v === "" ? undefined : hostname(v))) || (prod ? `api.${domain}` : `api-${environment}.${domain}`);
    if (frontendHost === apiHost && domain !== "") {
        problem("apiHost", `expected a hostname different from frontendHost, got ${JSON.stringify(apiHost)} for both`);
    }

    const hostCpus = int("hostCpus", 1, 512);
    const host = {
        address: str("hostAddress", (v) =>
            IPV4.test(v) || (v.includes(":") && IPV6.test(v)) || isHostname(v) ? undefined : `expected an IPv4/IPv6 address or a DNS name, got ${JSON.stringify(v)}`,
        ),
        sshPort: int("hostSshPort", 1, 65535),
        sshUser: str("hostSshUser", (v) => (/^[a-z_][a-z0-9_-]{0,31}$/.test(v) ? undefined : `expected a Unix user name, got ${JSON.stringify(v)}`)),
        sshPrivateKey: secret("hostSshPrivateKey"),
        sshHostKey: str("hostSshHostKey", (v) =>
            HOST_KEY.test(v.trim()) ? undefined : "expected a public host key line such as `ssh-ed25519 AAAA...` (from ssh-keyscan), got something else",
        ).trim(),
        memoryMb: int("hostMemoryMb", 512, 4194304),
        cpus: hostCpus,
        swapMb: int("hostSwapMb", 0, 65536),
        logMaxSizeMb: int("hostLogMaxSizeMb", 1, 1024),
        logMaxFiles: int("hostLogMaxFiles", 1, 100),
    };
    if (host.sshPrivateKey !== "" && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(host.sshPrivateKey)) {
        problem("hostSshPrivateKey", "expected an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----), got something else");
    }

    const majorVersion = int("postgresMajorVersion", 13, 18);
    const postgres = {
        image: str("postgresImage", (v) => {
            const bad = pinned(v);
            if (bad) return bad;
            const tagMajor = /^(\d+)/.exec(imageTag(v))?.[1];
            return tagMajor !== undefined && Number(tagMajor) !== majorVersion
                ? `expected an image of major version ${majorVersion} (postgresMajorVersion), got ${JSON.stringify(v)}`
                : undefined;
        }),
        majorVersion,
        maxConnections: int("postgresMaxConnections", 20, 10000),
        logMinDurationMs: int("postgresLogMinDurationMs", -1, 3600000),
        limits: limits("postgres", hostCpus),
    };
    const pooler = {
        image: str("poolerImage", pinned),
        defaultPoolSize: int("poolerDefaultPoolSize", 1, 10000),
        maxClientConn: int("poolerMaxClientConn", 1, 100000),
        limits: limits("pooler", hostCpus),
    };
    const supertokens = {
        image: str("supertokensImage", pinned),
        poolSize: int("supertokensPoolSize", 1, 1000),
        limits: limits("supertokens", hostCpus),
    };
    const backend = { ...app("backend", hostCpus), sentryDsn: value("backendSentryDsn") };
    const frontend = app("frontend", hostCpus);
    const proxy = {
        image: str("proxyImage", pinned),
        tlsMode: oneOf("proxyTlsMode", TLS_MODES),
        acmeEmail: str("proxyAcmeEmail", (v) => (v === "" || /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v) ? undefined : `expected an e-mail address, got ${JSON.stringify(v)}`)),
        hstsMaxAgeSeconds: int("proxyHstsMaxAgeSeconds", 0, 63072000),
        limits: limits("proxy", hostCpus),
    };

    const dns = {
        zoneId: str("dnsZoneId", (v) => (v === "" || /^[0-9a-f]{32}$/.test(v) ? undefined : `expected a Cloudflare zone id (32 hex characters), got ${JSON.stringify(v)}`)),
        target: oneOf("dnsTarget", DNS_TARGETS),
        legacyFrontendTarget: str("dnsLegacyFrontendTarget", (v) => (v === "" ? undefined : hostname(v))),
        legacyApiTarget: str("dnsLegacyApiTarget", (v) => (v === "" ? undefined : hostname(v))),
        ipv4Address: str("dnsIpv4Address", (v) => (v === "" || IPV4.test(v) ? undefined : `expected an IPv4 address, got ${JSON.stringify(v)}`)),
        proxied: bool("dnsProxied"),
        ttl: int("dnsTtl", 60, 86400),
        allowUnverifiedCutover: bool("dnsAllowUnverifiedCutover"),
        manageZoneSettings: bool("dnsManageZoneSettings"),
    };
    const firewall = {
        enabled: bool("firewallEnabled"),
        adminCidrs: list("firewallAdminCidrs", isCidr, "IPv4/IPv6 CIDRs such as 198.51.100.0/24"),
        cloudflareOnly: bool("firewallCloudflareOnly"),
    };
    const runId = str("migrationRunId", (v) => (v === "" || /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v) ? undefined : `expected letters, digits, dots, dashes or underscores (at most 64), got ${JSON.stringify(v)}`));
    const migrationSource = value("migrationSourceDatabaseUrl");
    const authSource = value("migrationAuthSourceDatabaseUrl");
    const migrationSettings = {
        runId,
        sourceDatabaseUrl: migrationSource ?? "",
        authSourceDatabaseUrl: authSource === "" ? undefined : authSource,
        schemas: str("migrationSchemas", (v) => (/^[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*$/.test(v) ? undefined : `expected comma-separated lower-case schema names, got ${JSON.stringify(v)}`)),
        jobs: int("migrationJobs", 1, 16),
        rls: oneOf("migrationRls", ["disable", "keep-rewritten"] as const),
        force: bool("migrationForce"),
    };
    const migration = runId === "" ? undefined : migrationSettings;

    // Cross-key rules, checked only when their inputs are individually valid.
    const budget = postgres.maxConnections - RESERVED_CONNECTIONS - supertokens.poolSize;
    if (postgres.maxConnections > 0 && pooler.defaultPoolSize > 0 && supertokens.poolSize > 0 && pooler.defaultPoolSize > budget) {
        problem(
            "poolerDefaultPoolSize",
            `expected at most ${budget} (postgresMaxConnections ${postgres.maxConnections} minus supertokensPoolSize ${supertokens.poolSize} minus ${RESERVED_CONNECTIONS} reserved), got ${pooler.defaultPoolSize}`,
        );
    }
    const containerMemory = [postgres, pooler, supertokens, backend, frontend, proxy].reduce((sum, s) => sum + s.limits.memoryMb, 0);
    if (host.memoryMb > 0 && containerMemory > host.memoryMb) {
        problem("hostMemoryMb", `expected at least the sum of the containers' memory limits (${containerMemory} MiB), got ${host.memoryMb}`);
    }

    if (migration && migrationSource === undefined && !problems.some((p) => p.startsWith(name("migrationSourceDatabaseUrl")))) {
        problem("migrationSourceDatabaseUrl", "required when migrationRunId is set; set it with `pulumi config set --secret migrationSourceDatabaseUrl ...`");
    }
    for (const [key, url] of [["migrationSourceDatabaseUrl", migrationSource], ["migrationAuthSourceDatabaseUrl", authSource]] as const) {
        if (url !== undefined && url !== "" && !/^postgres(ql)?:\/\/[^/\s]+\/[^\s]+$/.test(url)) {
            problem(key, "expected a postgresql://user:password@host:port/database URL, got something else");
        }
    }
    if (dns.zoneId !== "") {
        if (dns.target === "legacy") {
            for (const key of ["dnsLegacyFrontendTarget", "dnsLegacyApiTarget"] as const) {
                if (raw[key] === undefined || raw[key] === "") problem(key, "required while dnsTarget is legacy (the old host to point at); got nothing");
            }
        }
        if (dns.target === "vps" && dns.ipv4Address === "" && !IPV4.test(host.address)) {
            problem("dnsIpv4Address", `required with dnsTarget vps when hostAddress is not an IPv4 address (${JSON.stringify(host.address)}); got nothing`);
        }
    } else if (dns.target === "vps") {
        problem("dnsTarget", "expected legacy while dnsZoneId is empty (no DNS to move), got \"vps\"");
    }
    if (environment === "prod" && dns.target === "vps" && !migration && !dns.allowUnverifiedCutover) {
        problem("dnsTarget", "expected legacy until the data migration has been verified in this stack (set migrationRunId), or dnsAllowUnverifiedCutover: true; got \"vps\"");
    }
    if (proxy.tlsMode === "origin-ca" && dns.zoneId === "") {
        problem("proxyTlsMode", "origin-ca needs dnsZoneId (the certificate is issued for the zone); set dnsZoneId or use acme or internal");
    } else if (proxy.tlsMode === "origin-ca" && !dns.proxied) {
        problem("proxyTlsMode", "origin-ca needs dnsProxied: true (browsers do not trust Origin CA certificates); use acme for records that are not proxied");
    }
    if (proxy.tlsMode === "acme" && dns.zoneId !== "" && dns.proxied) {
        problem("proxyTlsMode", "acme needs dnsProxied: false (the ACME challenge must reach Caddy directly); use origin-ca for proxied records");
    }
    if (migration?.force && dns.target === "vps") {
        problem("migrationForce", "expected false while dnsTarget is vps: a forced restore would replace the live database; got true");
    }
    if (firewall.cloudflareOnly && !dns.proxied) {
        problem("firewallCloudflareOnly", "expected false while dnsProxied is false (visitors would come straight to the VPS and be dropped), got true");
    }

    if (problems.length > 0) throw new ConfigError(problems, stack);
    return { stack, environment, domain, frontendHost, apiHost, host, postgres, pooler, supertokens, backend, frontend, proxy, dns, firewall, migration };
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
        const key = fullKey.slice(prefix.length);
        raw[key] = v;
        if (isConfigSecret(fullKey)) secretKeys.add(key);
    }
    const cfg = parseConfig(raw, secretKeys, stack);
    return {
        ...cfg,
        host: { ...cfg.host, sshPrivateKey: pulumi.secret(cfg.host.sshPrivateKey) },
        backend: { ...cfg.backend, sentryDsn: cfg.backend.sentryDsn === undefined ? undefined : pulumi.secret(cfg.backend.sentryDsn) },
        migration: cfg.migration && {
            ...cfg.migration,
            sourceDatabaseUrl: pulumi.secret(cfg.migration.sourceDatabaseUrl),
            authSourceDatabaseUrl: cfg.migration.authSourceDatabaseUrl === undefined ? undefined : pulumi.secret(cfg.migration.authSourceDatabaseUrl),
        },
    };
}
