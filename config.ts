// The stack's configuration: one declaration of every key (CONFIG_KEYS), a pure
// validator (parseConfig) that reports every problem at once, and the loader
// (loadConfig) that reads Pulumi's config and turns secret values into secret Outputs.
// Pulumi.yaml's `config:` section and INFRASTRUCTURE.md's key table are generated
// from CONFIG_KEYS (scripts/gen-docs.ts); a test fails when they drift.
import * as pulumi from "@pulumi/pulumi";

export const PROJECT = "byte-runner-infra";

export type KeyType = "string" | "integer" | "boolean" | "array";

export interface ConfigKey {
    /** Key inside the project's namespace, e.g. `pooler.defaultPoolSize`. */
    key: string;
    type: KeyType;
    description: string;
    /** Absent for required keys. Secrets never have a default. */
    default?: string | number | boolean | string[];
    /** Must be set with `pulumi config set --secret`; a plain value is rejected. */
    secret?: boolean;
    /** May be left unset although it has no default. */
    optional?: boolean;
}

const STANDARD_CPUS = "decimal number of CPUs";

/** Every key the project reads. Order is the order of the docs. */
export const CONFIG_KEYS: readonly ConfigKey[] = [
    // The product
    { key: "environment", type: "string", description: "Which environment this stack is: prod, staging or local (hostnames and NODE_ENV follow from it)." },
    { key: "domain", type: "string", description: "The product's apex domain, e.g. byte-runner.app." },
    { key: "frontendHost", type: "string", default: "", description: "Hostname of the web frontend. Empty: the domain in prod, <environment>.<domain> otherwise." },
    { key: "apiHost", type: "string", default: "", description: "Hostname of the backend API. Empty: api.<domain> in prod, api.<environment>.<domain> otherwise." },

    // The VPS
    { key: "host.address", type: "string", description: "Public IPv4/IPv6 address or DNS name of the VPS." },
    { key: "host.sshPort", type: "integer", default: 22, description: "SSH port of the VPS." },
    { key: "host.sshUser", type: "string", default: "root", description: "SSH user: root, or a user with passwordless sudo." },
    { key: "host.sshPrivateKey", type: "string", secret: true, description: "OpenSSH private key (PEM/OpenSSH format) that logs in as host.sshUser." },
    { key: "host.sshHostKey", type: "string", description: "The VPS's public SSH host key (`ssh-ed25519 AAAA...`), pinned: host key checking is never turned off." },
    { key: "host.memoryMb", type: "integer", default: 8192, description: "Memory of the VPS in MiB; container limits must fit inside it." },
    { key: "host.cpus", type: "integer", default: 4, description: "vCPUs of the VPS; no container may be given more." },
    { key: "host.swapMb", type: "integer", default: 2048, description: "Swap file the bootstrap creates, in MiB (0: none)." },
    { key: "host.logMaxSizeMb", type: "integer", default: 10, description: "Docker json-file log rotation: size of one log file in MiB." },
    { key: "host.logMaxFiles", type: "integer", default: 5, description: "Docker json-file log rotation: files kept per container." },

    // Postgres
    { key: "postgres.image", type: "string", default: "postgres:15.18-bookworm", description: "Postgres image, pinned by version; its major must equal postgres.majorVersion." },
    { key: "postgres.majorVersion", type: "integer", default: 15, description: "Postgres major version; must match the Supabase source so dump and restore tools agree." },
    { key: "postgres.maxConnections", type: "integer", default: 100, description: "max_connections of the server." },
    { key: "postgres.memoryMb", type: "integer", default: 2048, description: "Memory limit of the Postgres container in MiB; shared_buffers, effective_cache_size and work_mem are derived from it." },
    { key: "postgres.cpus", type: "string", default: "2", description: `CPU limit of the Postgres container (${STANDARD_CPUS}).` },
    { key: "postgres.logMinDurationMs", type: "integer", default: 500, description: "Slow-query log threshold (log_min_duration_statement) in ms; -1 disables." },
    { key: "postgres.tunnelPort", type: "integer", default: 5432, description: "Port bound on the VPS's 127.0.0.1 for SSH tunnels (0: none). Never on a public interface." },

    // Pooler
    { key: "pooler.image", type: "string", default: "edoburu/pgbouncer:v1.24.1-p1", description: "PgBouncer image, pinned by version." },
    { key: "pooler.defaultPoolSize", type: "integer", default: 10, description: "PgBouncer default_pool_size: server connections per database/user pair; also the backend's DB_POOL_SIZE." },
    { key: "pooler.maxClientConn", type: "integer", default: 500, description: "PgBouncer max_client_conn." },
    { key: "pooler.memoryMb", type: "integer", default: 128, description: "Memory limit of the PgBouncer container in MiB." },
    { key: "pooler.cpus", type: "string", default: "0.5", description: `CPU limit of the PgBouncer container (${STANDARD_CPUS}).` },

    // SuperTokens
    { key: "supertokens.image", type: "string", default: "registry.supertokens.io/supertokens/supertokens-postgresql:11.0.0", description: "SuperTokens Core image, pinned by version." },
    { key: "supertokens.poolSize", type: "integer", default: 10, description: "SuperTokens Core's own connection pool to Postgres (POSTGRESQL_CONNECTION_POOL_SIZE)." },
    { key: "supertokens.memoryMb", type: "integer", default: 512, description: "Memory limit of the SuperTokens Core container in MiB." },
    { key: "supertokens.cpus", type: "string", default: "1", description: `CPU limit of the SuperTokens Core container (${STANDARD_CPUS}).` },

    // Apps
    { key: "backend.image", type: "string", default: "", description: "Backend image reference (registry/name:tag or @sha256 digest). Exactly one of backend.image and backend.buildContext." },
    { key: "backend.buildContext", type: "string", default: "", description: "Directory with the backend's Dockerfile, built on the VPS. Exactly one of backend.image and backend.buildContext." },
    { key: "backend.port", type: "integer", default: 4000, description: "Port the NestJS backend listens on inside its container." },
    { key: "backend.healthPath", type: "string", default: "/health", description: "HTTP path that answers 200 when the backend is healthy." },
    { key: "backend.memoryMb", type: "integer", default: 1024, description: "Memory limit of the backend container in MiB." },
    { key: "backend.cpus", type: "string", default: "2", description: `CPU limit of the backend container (${STANDARD_CPUS}).` },
    { key: "backend.sentryDsn", type: "string", secret: true, optional: true, description: "Optional Sentry DSN given to the backend as SENTRY_DSN." },
    { key: "frontend.image", type: "string", default: "", description: "Frontend image reference. Exactly one of frontend.image and frontend.buildContext." },
    { key: "frontend.buildContext", type: "string", default: "", description: "Directory with the frontend's Dockerfile, built on the VPS. Exactly one of frontend.image and frontend.buildContext." },
    { key: "frontend.port", type: "integer", default: 3000, description: "Port the frontend listens on inside its container." },
    { key: "frontend.healthPath", type: "string", default: "/", description: "HTTP path that answers 200 when the frontend is healthy." },
    { key: "frontend.memoryMb", type: "integer", default: 512, description: "Memory limit of the frontend container in MiB." },
    { key: "frontend.cpus", type: "string", default: "1", description: `CPU limit of the frontend container (${STANDARD_CPUS}).` },

    // Proxy
    { key: "proxy.image", type: "string", default: "caddy:2.10.2-alpine", description: "Caddy image, pinned by version." },
    { key: "proxy.tlsMode", type: "string", default: "origin-ca", description: "How Caddy gets certificates: origin-ca (a Cloudflare Origin CA certificate made as code, for proxied records), acme (Caddy's automatic HTTPS, for records that are not proxied) or internal (Caddy's own CA, for local and test stacks)." },
    { key: "proxy.acmeEmail", type: "string", default: "", description: "Contact e-mail for the ACME account (acme mode); empty: none." },
    { key: "proxy.hstsMaxAgeSeconds", type: "integer", default: 31536000, description: "Strict-Transport-Security max-age sent on every response (0: no HSTS header)." },
    { key: "proxy.memoryMb", type: "integer", default: 256, description: "Memory limit of the Caddy container in MiB." },
    { key: "proxy.cpus", type: "string", default: "1", description: `CPU limit of the Caddy container (${STANDARD_CPUS}).` },

    // DNS (Cloudflare) and the cutover
    { key: "dns.zoneId", type: "string", default: "", description: "Cloudflare zone id of the domain (32 hex characters). Empty: DNS is not managed by this stack." },
    { key: "dns.target", type: "string", default: "legacy", description: "Where the product's records point: legacy (the old hosts, dns.legacy*Target) or vps (this VPS). Flipping it is the cutover; flipping it back is the rollback." },
    { key: "dns.legacyFrontendTarget", type: "string", default: "", description: "Old host of the frontend (a CNAME target, e.g. the Railway domain), used while dns.target is legacy." },
    { key: "dns.legacyApiTarget", type: "string", default: "", description: "Old host of the API (a CNAME target, e.g. the Railway domain), used while dns.target is legacy." },
    { key: "dns.ipv4Address", type: "string", default: "", description: "IPv4 address the A records get with dns.target vps. Empty: host.address (which must then be an IPv4 address)." },
    { key: "dns.ipv6Address", type: "string", default: "", description: "IPv6 address for AAAA records with dns.target vps. Empty: no AAAA records." },
    { key: "dns.proxied", type: "boolean", default: true, description: "Proxy the records through Cloudflare (a flip takes effect at the edge at once; TTL is automatic)." },
    { key: "dns.ttl", type: "integer", default: 300, description: "TTL in seconds of records that are not proxied (lower it to 60 a day before a cutover)." },
    { key: "dns.allowUnverifiedCutover", type: "boolean", default: false, description: "Prod only: allow dns.target vps without a verified data migration in this stack. Loud in every preview." },
    { key: "dns.manageZoneSettings", type: "boolean", default: false, description: "Set the zone's SSL mode to Full (strict) (origin-ca mode). Off when the zone is shared with things this stack does not own." },

    // Host firewall
    { key: "firewall.enabled", type: "boolean", default: true, description: "Apply the host firewall (nftables): default deny inbound, SSH from firewall.adminCidrs, 80/443 public; Docker-published ports cannot bypass it." },
    { key: "firewall.adminCidrs", type: "array", default: [], description: "CIDRs allowed to reach SSH. Empty: everywhere (a warning in every preview)." },
    { key: "firewall.cloudflareOnly", type: "boolean", default: false, description: "Accept 80/443 only from Cloudflare's published ranges (scripts/cloudflare-ips.txt); for proxied records." },

    // Data migration (Supabase -> this Postgres)
    { key: "migration.runId", type: "string", default: "", description: "Set (or change) to run the migration dump -> restore -> verify once; unchanged, nothing re-runs. Empty: no migration in this stack." },
    { key: "migration.sourceDatabaseUrl", type: "string", secret: true, optional: true, description: "postgresql:// URL of the Supabase database (direct or session pooler, port 5432). Required when migration.runId is set." },
    { key: "migration.schemas", type: "string", default: "public", description: "Comma-separated app schemas to move (pg-migrate's SCHEMAS)." },
    { key: "migration.jobs", type: "integer", default: 2, description: "Parallel jobs for dump, restore and verify." },
    { key: "migration.rls", type: "string", default: "disable", description: "Row level security of migrated tables: disable (the app is the only client) or keep-rewritten (policies kept, auth.* rewritten)." },
    { key: "migration.force", type: "boolean", default: false, description: "Let a new run replace an app database that already has tables. Off: a second restore is refused and changes nothing." },
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
        tunnelPort: number;
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
        ipv6Address: string;
        proxied: boolean;
        ttl: number;
        allowUnverifiedCutover: boolean;
        manageZoneSettings: boolean;
    };
    firewall: { enabled: boolean; adminCidrs: string[]; cloudflareOnly: boolean };
    migration?: { runId: string; sourceDatabaseUrl: S; schemas: string; jobs: number; rls: "disable" | "keep-rewritten"; force: boolean };
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
        const memoryMb = int(`${area}.memoryMb`, 64, 1048576);
        const cpusRaw = str(`${area}.cpus`, (v) =>
            CPUS.test(v) && Number(v) > 0 && Number(v) <= Math.max(hostCpus, 0.01)
                ? undefined
                : `expected a number of CPUs greater than 0 and at most host.cpus (${hostCpus}), got ${JSON.stringify(v)}`,
        );
        return { memoryMb, cpus: Number(cpusRaw) || 0 };
    };
    const app = (area: "backend" | "frontend", hostCpus: number): AppConfig => {
        const image = str(`${area}.image`, (v) => (v === "" ? undefined : pinned(v)));
        const context = str(`${area}.buildContext`);
        if ((image === "") === (context === "")) {
            problems.push(
                `${name(`${area}.image`)}: expected exactly one of ${area}.image and ${area}.buildContext, got ${image === "" ? "neither" : "both"}`,
            );
        }
        const source: ImageSource = image !== "" ? { kind: "image", ref: image } : { kind: "build", context };
        return {
            source,
            port: int(`${area}.port`, 1, 65535),
            healthPath: str(`${area}.healthPath`, (v) => (/^\/[^\s]*$/.test(v) ? undefined : `expected a path starting with /, got ${JSON.stringify(v)}`)),
            limits: limits(area, hostCpus),
        };
    };

    const environment = oneOf("environment", ENVIRONMENTS);
    const domain = str("domain", hostname);
    const prefix = environment === "prod" ? "" : `${environment}.`;
    const frontendHost = str("frontendHost", (v) => (v === "" ? undefined : hostname(v))) || `${prefix}${domain}`;
    const apiHost = str("apiHost", (v) => (v === "" ? undefined : hostname(v))) || `api.${prefix}${domain}`;
    if (frontendHost === apiHost && domain !== "") {
        problem("apiHost", `expected a hostname different from frontendHost, got ${JSON.stringify(apiHost)} for both`);
    }

    const hostCpus = int("host.cpus", 1, 512);
    const host = {
        address: str("host.address", (v) =>
            IPV4.test(v) || (v.includes(":") && IPV6.test(v)) || isHostname(v) ? undefined : `expected an IPv4/IPv6 address or a DNS name, got ${JSON.stringify(v)}`,
        ),
        sshPort: int("host.sshPort", 1, 65535),
        sshUser: str("host.sshUser", (v) => (/^[a-z_][a-z0-9_-]{0,31}$/.test(v) ? undefined : `expected a Unix user name, got ${JSON.stringify(v)}`)),
        sshPrivateKey: secret("host.sshPrivateKey"),
        sshHostKey: str("host.sshHostKey", (v) =>
            HOST_KEY.test(v.trim()) ? undefined : "expected a public host key line such as `ssh-ed25519 AAAA...` (from ssh-keyscan), got something else",
        ).trim(),
        memoryMb: int("host.memoryMb", 512, 4194304),
        cpus: hostCpus,
        swapMb: int("host.swapMb", 0, 65536),
        logMaxSizeMb: int("host.logMaxSizeMb", 1, 1024),
        logMaxFiles: int("host.logMaxFiles", 1, 100),
    };
    if (host.sshPrivateKey !== "" && !/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(host.sshPrivateKey)) {
        problem("host.sshPrivateKey", "expected an OpenSSH or PEM private key (-----BEGIN ... PRIVATE KEY-----), got something else");
    }

    const majorVersion = int("postgres.majorVersion", 13, 18);
    const postgres = {
        image: str("postgres.image", (v) => {
            const bad = pinned(v);
            if (bad) return bad;
            const tagMajor = /^(\d+)/.exec(imageTag(v))?.[1];
            return tagMajor !== undefined && Number(tagMajor) !== majorVersion
                ? `expected an image of major version ${majorVersion} (postgres.majorVersion), got ${JSON.stringify(v)}`
                : undefined;
        }),
        majorVersion,
        maxConnections: int("postgres.maxConnections", 20, 10000),
        logMinDurationMs: int("postgres.logMinDurationMs", -1, 3600000),
        tunnelPort: int("postgres.tunnelPort", 0, 65535),
        limits: limits("postgres", hostCpus),
    };
    const pooler = {
        image: str("pooler.image", pinned),
        defaultPoolSize: int("pooler.defaultPoolSize", 1, 10000),
        maxClientConn: int("pooler.maxClientConn", 1, 100000),
        limits: limits("pooler", hostCpus),
    };
    const supertokens = {
        image: str("supertokens.image", pinned),
        poolSize: int("supertokens.poolSize", 1, 1000),
        limits: limits("supertokens", hostCpus),
    };
    const backend = { ...app("backend", hostCpus), sentryDsn: raw["backend.sentryDsn"] === undefined ? undefined : secret("backend.sentryDsn") };
    const frontend = app("frontend", hostCpus);
    const proxy = {
        image: str("proxy.image", pinned),
        tlsMode: oneOf("proxy.tlsMode", TLS_MODES),
        acmeEmail: str("proxy.acmeEmail", (v) => (v === "" || /^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v) ? undefined : `expected an e-mail address, got ${JSON.stringify(v)}`)),
        hstsMaxAgeSeconds: int("proxy.hstsMaxAgeSeconds", 0, 63072000),
        limits: limits("proxy", hostCpus),
    };

    const dns = {
        zoneId: str("dns.zoneId", (v) => (v === "" || /^[0-9a-f]{32}$/.test(v) ? undefined : `expected a Cloudflare zone id (32 hex characters), got ${JSON.stringify(v)}`)),
        target: oneOf("dns.target", DNS_TARGETS),
        legacyFrontendTarget: str("dns.legacyFrontendTarget", (v) => (v === "" ? undefined : hostname(v))),
        legacyApiTarget: str("dns.legacyApiTarget", (v) => (v === "" ? undefined : hostname(v))),
        ipv4Address: str("dns.ipv4Address", (v) => (v === "" || IPV4.test(v) ? undefined : `expected an IPv4 address, got ${JSON.stringify(v)}`)),
        ipv6Address: str("dns.ipv6Address", (v) => (v === "" || (v.includes(":") && IPV6.test(v)) ? undefined : `expected an IPv6 address, got ${JSON.stringify(v)}`)),
        proxied: bool("dns.proxied"),
        ttl: int("dns.ttl", 60, 86400),
        allowUnverifiedCutover: bool("dns.allowUnverifiedCutover"),
        manageZoneSettings: bool("dns.manageZoneSettings"),
    };
    const firewall = {
        enabled: bool("firewall.enabled"),
        adminCidrs: list("firewall.adminCidrs", isCidr, "IPv4/IPv6 CIDRs such as 198.51.100.0/24"),
        cloudflareOnly: bool("firewall.cloudflareOnly"),
    };
    const runId = str("migration.runId", (v) => (v === "" || /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(v) ? undefined : `expected letters, digits, dots, dashes or underscores (at most 64), got ${JSON.stringify(v)}`));
    const migrationSource = raw["migration.sourceDatabaseUrl"] === undefined ? undefined : secret("migration.sourceDatabaseUrl");
    const migrationSettings = {
        runId,
        sourceDatabaseUrl: migrationSource ?? "",
        schemas: str("migration.schemas", (v) => (/^[a-z_][a-z0-9_]*(,[a-z_][a-z0-9_]*)*$/.test(v) ? undefined : `expected comma-separated lower-case schema names, got ${JSON.stringify(v)}`)),
        jobs: int("migration.jobs", 1, 16),
        rls: oneOf("migration.rls", ["disable", "keep-rewritten"] as const),
        force: bool("migration.force"),
    };
    const migration = runId === "" ? undefined : migrationSettings;

    // Cross-key rules, checked only when their inputs are individually valid.
    const budget = postgres.maxConnections - RESERVED_CONNECTIONS - supertokens.poolSize;
    if (postgres.maxConnections > 0 && pooler.defaultPoolSize > 0 && supertokens.poolSize > 0 && pooler.defaultPoolSize > budget) {
        problem(
            "pooler.defaultPoolSize",
            `expected at most ${budget} (postgres.maxConnections ${postgres.maxConnections} minus supertokens.poolSize ${supertokens.poolSize} minus ${RESERVED_CONNECTIONS} reserved), got ${pooler.defaultPoolSize}`,
        );
    }
    const containerMemory = [postgres, pooler, supertokens, backend, frontend, proxy].reduce((sum, s) => sum + s.limits.memoryMb, 0);
    if (host.memoryMb > 0 && containerMemory > host.memoryMb) {
        problem("host.memoryMb", `expected at least the sum of the containers' memory limits (${containerMemory} MiB), got ${host.memoryMb}`);
    }
    if (postgres.tunnelPort !== 0 && postgres.tunnelPort === host.sshPort) {
        problem("postgres.tunnelPort", `expected a port other than host.sshPort (${host.sshPort}), got ${postgres.tunnelPort}`);
    }

    if (migration && migrationSource === undefined && !problems.some((p) => p.startsWith(name("migration.sourceDatabaseUrl")))) {
        problem("migration.sourceDatabaseUrl", "required when migration.runId is set; set it with `pulumi config set --secret migration.sourceDatabaseUrl ...`");
    }
    if (migrationSource !== undefined && migrationSource !== "" && !/^postgres(ql)?:\/\/[^/\s]+\/[^\s]+$/.test(migrationSource)) {
        problem("migration.sourceDatabaseUrl", "expected a postgresql://user:password@host:port/database URL, got something else");
    }
    if (dns.zoneId !== "") {
        if (dns.target === "legacy") {
            for (const key of ["dns.legacyFrontendTarget", "dns.legacyApiTarget"] as const) {
                if (raw[key] === undefined || raw[key] === "") problem(key, "required while dns.target is legacy (the old host to point at); got nothing");
            }
        }
        if (dns.target === "vps" && dns.ipv4Address === "" && !IPV4.test(host.address)) {
            problem("dns.ipv4Address", `required with dns.target vps when host.address is not an IPv4 address (${JSON.stringify(host.address)}); got nothing`);
        }
    } else if (dns.target === "vps") {
        problem("dns.target", "expected legacy while dns.zoneId is empty (no DNS to move), got \"vps\"");
    }
    if (environment === "prod" && dns.target === "vps" && !migration && !dns.allowUnverifiedCutover) {
        problem("dns.target", "expected legacy until the data migration has been verified in this stack (set migration.runId), or dns.allowUnverifiedCutover: true; got \"vps\"");
    }
    if (proxy.tlsMode === "origin-ca" && dns.zoneId === "") {
        problem("proxy.tlsMode", "origin-ca needs dns.zoneId (the certificate is issued for the zone); set dns.zoneId or use acme or internal");
    } else if (proxy.tlsMode === "origin-ca" && !dns.proxied) {
        problem("proxy.tlsMode", "origin-ca needs dns.proxied: true (browsers do not trust Origin CA certificates); use acme for records that are not proxied");
    }
    if (proxy.tlsMode === "acme" && dns.zoneId !== "" && dns.proxied) {
        problem("proxy.tlsMode", "acme needs dns.proxied: false (the ACME challenge must reach Caddy directly); use origin-ca for proxied records");
    }
    if (firewall.cloudflareOnly && !dns.proxied) {
        problem("firewall.cloudflareOnly", "expected false while dns.proxied is false (visitors would come straight to the VPS and be dropped), got true");
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
        migration: cfg.migration && { ...cfg.migration, sourceDatabaseUrl: pulumi.secret(cfg.migration.sourceDatabaseUrl) },
    };
}
