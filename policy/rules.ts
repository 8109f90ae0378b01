// The rules of the policy pack as pure functions over resources in Pulumi's wire form (what
// the engine sends an analyzer: secrets as signature objects, unknowns as the unknown
// sentinel), so that tests can run them on crafted inputs and on the offline graph of the
// committed stacks. policy/index.ts wires them into a CrossGuard pack; policy/raw.ts gives
// them the wire form, which @pulumi/policy hides.
// Pure: no Pulumi import; it reads the program's own pure declarations.
import { PROXY_PORTS } from "../components/proxy/ports";
import { isPinnedImage } from "../values";

/** Pulumi's wire markers (@pulumi/pulumi/runtime/rpc: specialSigKey, specialSecretSig, unknownValue). */
export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** A resource as a rule sees it. */
export interface RuleResource {
    urn: string;
    type: string;
    /** Inputs (per-resource rules) or outputs (stack rules), in wire form. */
    props: Record<string, unknown>;
    /** URN of the parent resource. */
    parent?: string;
    /** URNs of what it depends on. */
    dependencies?: string[];
    /** Property name -> URNs of the resources that property's value came from. */
    propertyDependencies?: Record<string, string[]>;
}

export interface Violation {
    urn?: string;
    message: string;
}

export interface Rule {
    name: string;
    description: string;
    /** mandatory: the preview fails; advisory: a warning. */
    enforcement: "mandatory" | "advisory";
    /** Why the rule exists: shown by `pulumi preview` with each violation. */
    why: string;
    /** "resource": called once per resource with its inputs; "stack": once with every resource's outputs. */
    scope: "resource" | "stack";
    check: (resources: RuleResource[]) => Violation[];
}

export const TYPES = {
    container: "docker:index/container:Container",
    remoteImage: "docker:index/remoteImage:RemoteImage",
    image: "docker:index/image:Image",
    network: "docker:index/network:Network",
    dnsRecord: "cloudflare:index/dnsRecord:DnsRecord",
    remoteCommand: "command:remote:Command",
    // The program's components (their type tokens, `byte-runner:<area>:<Type>`).
    proxy: "byte-runner:proxy:Proxy",
    postgres: "byte-runner:postgres:Postgres",
    pooler: "byte-runner:pooler:Pooler",
    supertokens: "byte-runner:supertokens:SuperTokens",
    monitoring: "byte-runner:monitoring:Monitoring",
    backup: "byte-runner:backup:Backup",
    dns: "byte-runner:dns:Dns",
    migration: "byte-runner:migration:Migration",
} as const;

/** The services that hold or guard data: never reachable from the edge network. */
export const OFF_EDGE_SERVICES: Record<string, string> = {
    [TYPES.postgres]: "Postgres",
    [TYPES.pooler]: "PgBouncer",
    [TYPES.supertokens]: "SuperTokens",
    [TYPES.monitoring]: "monitoring",
    [TYPES.backup]: "the backups",
};

/** The Docker network the proxy and the apps share (components/network: `<prefix>-edge`). */
export const EDGE_NETWORK_SUFFIX = "-edge";

/** The migration steps whose success means the data is verified (components/migration: dump's verify, replicate's cutover). */
export const VERIFIED_STEPS = ["verify", "cutover"] as const;

/** The config key that allows a prod cutover without a verified migration (config.ts). */
export const CUTOVER_OVERRIDE_KEY = "dnsAllowUnverifiedCutover";

// ---- wire form helpers

export function isUnknown(v: unknown): boolean {
    return v === UNKNOWN;
}

export function isSecret(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The value with secret wrappers removed (unknowns stay the sentinel). */
export function reveal(v: unknown): unknown {
    if (isSecret(v)) return reveal(v.value);
    if (Array.isArray(v)) return v.map(reveal);
    if (typeof v === "object" && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, reveal(x)]));
    return v;
}

/** The type of the resource and of each of its ancestors, outermost first, from its URN. */
export function typeChain(urn: string): string[] {
    const parts = urn.split("::");
    return parts.length >= 4 ? parts[2].split("$") : [];
}

export function nameOf(urn: string): string {
    return urn.split("::").pop() ?? urn;
}

/** The component type (from OFF_EDGE_SERVICES or the proxy...) a resource sits under, if any. */
function underComponent(r: RuleResource, componentType: string): boolean {
    return typeChain(r.urn).slice(0, -1).includes(componentType);
}

const label = (r: RuleResource) => `${nameOf(r.urn)} (${r.type})`;

// ---- secret detection

const URL_WITH_PASSWORD = /\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:'"]*:([^\s/?#@'"]+)@/i;
const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
const TOKEN_FORMATS: [RegExp, string][] = [
    [/\bgh[pousr]_[A-Za-z0-9]{36,}\b/, "a GitHub token"],
    [/\bgithub_pat_[A-Za-z0-9_]{22,}\b/, "a GitHub token"],
    [/\bglpat-[A-Za-z0-9_-]{20,}\b/, "a GitLab token"],
    [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/, "a Slack token"],
    [/\bhooks\.slack\.com\/services\/[A-Za-z0-9/]+/, "a Slack webhook URL"],
    [/\b[sr]k_(live|test)_[A-Za-z0-9]{16,}\b/, "a Stripe key"],
    [/\bAKIA[0-9A-Z]{16}\b/, "an AWS access key id"],
    [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/, "a JSON web token"],
    [/\bhttps:\/\/[0-9a-f]{32}@[a-z0-9.-]+\/\d+/, "a Sentry DSN"],
];
/** A name that says its value is a secret: PASSWORD, api_key, secretAccessKey, SUPERTOKENS_API_KEYS... */
const SECRET_NAME = /(passw(or)?d|secret|token|api_?keys?|private_?key|access_?key|credentials?|dsn)$/i;
/** Names that end like a secret's but hold none: a file holding it, a key's public half, a token's type. */
const NOT_SECRET_NAME = /(_file|_path|public_?key|token_?type|secret_?name|key_?id)$/i;
/** A value that only refers to a secret: $VAR, ${VAR}, {{ template }}, a file path. */
const REFERENCE = /^(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|\{\{.*\}\}|\/[^\s]*)$/;
/** A password in documentation's example URLs: postgresql://USER:PASSWORD@, user:password, <password>, ***. */
const PLACEHOLDER = /^(<[^>]*>|\*+|x+|\.\.\.|password|pass|secret|[A-Z][A-Z0-9_]*)$/;

/** Why a plain (not secret) string looks like a secret, or undefined. `name` is the property or variable name holding it. */
export function secretLooking(value: string, name = ""): string | undefined {
    const url = URL_WITH_PASSWORD.exec(value);
    if (url && !REFERENCE.test(url[1]) && !PLACEHOLDER.test(url[1])) return "a URL with a password in it";
    if (PRIVATE_KEY.test(value)) return "a private key";
    for (const [pattern, what] of TOKEN_FORMATS) if (pattern.test(value)) return what;
    // KEY=VALUE: a container's environment entry, or a line of a settings file.
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/s.exec(value);
    if (assignment && !assignment[2].includes("\n")) return secretLooking(assignment[2], assignment[1]);
    if (name && SECRET_NAME.test(name) && !NOT_SECRET_NAME.test(name) && value.trim() !== "" && !REFERENCE.test(value.trim())) {
        return `a value named ${name}`;
    }
    return undefined;
}

/** Every plain string in a wire value that looks like a secret: path and why. */
export function plainSecrets(v: unknown, path = "", name = ""): { path: string; why: string }[] {
    if (isSecret(v) || isUnknown(v)) return [];
    if (typeof v === "string") {
        const why = secretLooking(v, name);
        return why ? [{ path, why }] : [];
    }
    if (Array.isArray(v)) return v.flatMap((x, i) => plainSecrets(x, `${path}[${i}]`, name));
    if (typeof v === "object" && v !== null) {
        return Object.entries(v).flatMap(([k, x]) => plainSecrets(x, path ? `${path}.${k}` : k, k));
    }
    return [];
}

// ---- the rules

const perResource =
    (check: (r: RuleResource) => Violation[]) =>
    (resources: RuleResource[]): Violation[] =>
        resources.flatMap(check);

const containers = (resources: RuleResource[]) => resources.filter((r) => r.type === TYPES.container);

/** A check of one input of every container: `problem` says what is wrong with its value (skipped while unknown). */
const eachContainer = (property: string, problem: (value: unknown) => string | undefined) =>
    perResource((r) => {
        if (r.type !== TYPES.container) return [];
        const value = reveal(r.props[property]);
        const found = isUnknown(value) ? undefined : problem(value);
        return found ? [{ urn: r.urn, message: `${label(r)} ${found}` }] : [];
    });

export const onlyProxyPublishesPorts: Rule = {
    name: "only-proxy-publishes-ports",
    description: `Only the proxy (Caddy) publishes ports, and only ${PROXY_PORTS.join(" and ")}.`,
    enforcement: "mandatory",
    why: "The proxy is the one door, with TLS and security headers. The host firewall opens only its ports, so another published port is dead at best, and open to the internet wherever the firewall is off or wrong. Reach anything else through the internal network or an SSH tunnel.",
    scope: "resource",
    check: perResource((r) => {
        if (r.type !== TYPES.container) return [];
        const ports = reveal(r.props.ports);
        if (ports === undefined || (Array.isArray(ports) && ports.length === 0)) return [];
        if (!Array.isArray(ports)) return [{ urn: r.urn, message: `${label(r)}: its published ports are not known at preview, so they cannot be checked; only the proxy publishes ports.` }];
        const published = ports.map((p) => {
            const port = p as { internal?: unknown; external?: unknown; protocol?: unknown };
            return `${String(port.external ?? port.internal)}->${String(port.internal)}/${String(port.protocol ?? "tcp")}`;
        });
        if (!underComponent(r, TYPES.proxy)) {
            return [{ urn: r.urn, message: `${label(r)} publishes ${published.join(", ")}: only the proxy publishes ports.` }];
        }
        const allowed = new Set(PROXY_PORTS.map((p) => `${p}->${p}/tcp`));
        const extra = published.filter((p) => !allowed.has(p));
        return extra.length > 0 ? [{ urn: r.urn, message: `${label(r)} publishes ${extra.join(", ")}: the proxy publishes only ${PROXY_PORTS.join(" and ")} (tcp).` }] : [];
    }),
};

export const dataServicesOffEdge: Rule = {
    name: "data-services-off-edge",
    description: "Postgres, PgBouncer, SuperTokens, the backups and the monitoring never sit on the edge network.",
    enforcement: "mandatory",
    why: "The edge network is where the proxy and the apps meet: a data service on it is one hop from anything that compromises the proxy or an app's public side. They belong on the internal network (no route out), monitoring on its own.",
    scope: "stack",
    check: (resources) => {
        const edge = resources.filter((r) => r.type === TYPES.network && String(reveal(r.props.name)).endsWith(EDGE_NETWORK_SUFFIX));
        const edgeUrns = new Set(edge.map((n) => n.urn));
        const edgeNames = new Set(edge.map((n) => String(reveal(n.props.name))));
        const violations: Violation[] = [];
        for (const c of containers(resources)) {
            const service = typeChain(c.urn).slice(0, -1).map((t) => OFF_EDGE_SERVICES[t]).find((s) => s !== undefined);
            if (!service) continue;
            const attached = reveal(c.props.networksAdvanced);
            const names = Array.isArray(attached) ? attached.map((n) => (n as { name?: unknown }).name).filter((n): n is string => typeof n === "string") : [];
            const byValue = names.filter((n) => edgeNames.has(n));
            const byDependency = (c.propertyDependencies?.networksAdvanced ?? []).filter((u) => edgeUrns.has(u)).map(nameOf);
            const unknown = !Array.isArray(attached) || names.length < attached.length;
            if (byValue.length > 0 || byDependency.length > 0) {
                const which = [...new Set([...byValue, ...byDependency])].join(", ");
                violations.push({ urn: c.urn, message: `${label(c)} is a ${service} container on the edge network (${which}): ${service} never sits on the edge network.` });
            } else if (unknown && c.propertyDependencies === undefined) {
                violations.push({ urn: c.urn, message: `${label(c)}: the networks of this ${service} container are not known at preview, so it cannot be shown to stay off the edge network.` });
            }
        }
        return violations;
    },
};

export const imagesPinned: Rule = {
    name: "images-pinned",
    description: "Every image is pinned by a version tag or a digest (never latest, never a bare name).",
    enforcement: "mandatory",
    why: "A moving tag changes what runs without a change in this repository: a restart or a new VPS silently upgrades (or breaks) a service, and a rollback cannot return to what ran before.",
    scope: "resource",
    check: perResource((r) => {
        const refs: [string, unknown][] =
            r.type === TYPES.remoteImage ? [["name", r.props.name]] : r.type === TYPES.image ? [["imageName", r.props.imageName]] : r.type === TYPES.container ? [["image", r.props.image]] : [];
        return refs.flatMap(([prop, raw]) => {
            const ref = reveal(raw);
            if (ref === undefined || isUnknown(ref)) return [];
            // An image id (what a RemoteImage resolves to) names exact content.
            if (typeof ref === "string" && (/^sha256:[0-9a-f]{64}$/.test(ref) || isPinnedImage(ref))) return [];
            return [{ urn: r.urn, message: `${label(r)} ${prop} ${JSON.stringify(ref)} is not pinned: use a tag with a version in it (1.2.3, 15.18-bookworm) or an @sha256: digest.` }];
        });
    }),
};

export const noPlainSecrets: Rule = {
    name: "no-plain-secrets",
    description: "No input that looks like a secret (a URL with a password, a key, a token, a value named like a password) is in plain text.",
    enforcement: "mandatory",
    why: "A plain input is shown in previews, pull-request comments and the state file in clear. Secrets come from `pulumi config set --secret` or are generated, and stay pulumi.secret() all the way to the VPS.",
    scope: "resource",
    check: perResource((r) =>
        plainSecrets(r.props).map((found) => ({
            urn: r.urn,
            message: `${label(r)} input ${found.path} holds ${found.why} in plain text: make it a secret (pulumi config set --secret, or pulumi.secret()).`,
        })),
    ),
};

export const containersMemoryLimited: Rule = {
    name: "containers-memory-limited",
    description: "Every container has a memory limit.",
    enforcement: "mandatory",
    why: "Without a limit one leaking container takes the whole VPS's memory and the kernel's OOM killer picks a victim, often Postgres. The limits are budgeted against hostMemoryMb in config.ts.",
    scope: "resource",
    check: eachContainer("memory", (memory) =>
        typeof memory === "number" && memory > 0 ? undefined : `has no memory limit (memory: ${JSON.stringify(memory ?? null)}): set one (<service>MemoryMb).`,
    ),
};

/** What the Dns component registers as its outputs: the facts the cutover gate reads. */
export interface DnsFacts {
    environment: string;
    target: string;
    allowUnverifiedCutover: boolean;
}

export const prodCutoverGated: Rule = {
    name: "prod-dns-cutover-gated",
    description: `In prod, DNS records point at the VPS only once the data migration has been verified (they wait for its verify step), or with ${CUTOVER_OVERRIDE_KEY}: true.`,
    enforcement: "mandatory",
    why: "Pointing the product at the VPS before its data is verified serves users an empty or partial database, and writes made there diverge from the old one. The override exists for a deliberate cutover without a migration.",
    scope: "stack",
    check: (resources) => {
        const violations: Violation[] = [];
        const verified = resources.filter(
            (r) => r.type === TYPES.remoteCommand && underComponent(r, TYPES.migration) && VERIFIED_STEPS.some((step) => nameOf(r.urn).endsWith(`-${step}`)),
        );
        for (const dns of resources.filter((r) => r.type === TYPES.dns)) {
            const facts = reveal(dns.props) as Partial<DnsFacts>;
            if (typeof facts.environment !== "string" || typeof facts.target !== "string" || typeof facts.allowUnverifiedCutover !== "boolean") {
                violations.push({ urn: dns.urn, message: `${label(dns)} does not register environment, target and allowUnverifiedCutover as its outputs: the cutover gate cannot be checked.` });
                continue;
            }
            if (facts.environment !== "prod" || facts.allowUnverifiedCutover) continue;
            const records = resources.filter((r) => r.type === TYPES.dnsRecord && r.parent === dns.urn && reveal(r.props.type) === "A");
            for (const record of records) {
                const deps = new Set(record.dependencies ?? []);
                const missing = verified.filter((step) => !deps.has(step.urn));
                if (verified.length > 0 && missing.length === 0) continue;
                const name = String(reveal(record.props.name));
                violations.push({
                    urn: record.urn,
                    message:
                        verified.length === 0
                            ? `prod DNS record ${name} points at the VPS but this stack has no verified data migration: run the migration (migrationRunId) first, or set ${CUTOVER_OVERRIDE_KEY}: true to cut over without one.`
                            : `prod DNS record ${name} points at the VPS without waiting for ${missing.map((s) => nameOf(s.urn)).join(", ")}: it must depend on every verified migration step (or set ${CUTOVER_OVERRIDE_KEY}: true).`,
                });
            }
        }
        return violations;
    },
};

export const containersHealthchecked: Rule = {
    name: "containers-healthchecked",
    description: "Every container has a healthcheck.",
    enforcement: "advisory",
    why: "`pulumi up` waits for a container to be healthy (wait: true) and the monitoring reports unhealthy ones: without a healthcheck a crash-looping or hung service looks fine to both.",
    scope: "resource",
    check: eachContainer("healthcheck", (healthcheck) => {
        const tests = (healthcheck as { tests?: unknown } | undefined)?.tests;
        return Array.isArray(tests) && tests.length >= 2 && tests[0] !== "NONE" ? undefined : "has no healthcheck.";
    }),
};

export const containersLogsRotated: Rule = {
    name: "containers-logs-rotated",
    description: "Every container's json-file logs are rotated (max-size and max-file).",
    enforcement: "advisory",
    why: "Docker keeps a container's logs forever by default: on a single VPS a chatty service fills the disk Postgres writes to. Rotation comes from hostLogMaxSizeMb and hostLogMaxFiles.",
    scope: "resource",
    check: eachContainer("logOpts", (logOpts) => {
        const opts = logOpts as Record<string, unknown> | undefined;
        return opts?.["max-size"] && opts["max-file"] ? undefined : "does not rotate its logs (logOpts max-size and max-file).";
    }),
};

export const containersRestart: Rule = {
    name: "containers-restart",
    description: "Every container restarts after a crash or a reboot (restart: unless-stopped or always).",
    enforcement: "advisory",
    why: "After a kernel upgrade's reboot (unattended upgrades) or a crash, a container without a restart policy stays down until someone runs `pulumi up`.",
    scope: "resource",
    check: eachContainer("restart", (restart) =>
        restart === "unless-stopped" || restart === "always" ? undefined : `has restart ${JSON.stringify(restart ?? "no")}: use unless-stopped.`,
    ),
};

/** Every rule of the pack, mandatory first. */
export const RULES: Rule[] = [
    onlyProxyPublishesPorts,
    dataServicesOffEdge,
    imagesPinned,
    noPlainSecrets,
    containersMemoryLimited,
    prodCutoverGated,
    containersHealthchecked,
    containersLogsRotated,
    containersRestart,
];

/** Runs every rule (or the given ones) over a whole stack; per-resource rules see the same props here. */
export function checkAll(resources: RuleResource[], rules: Rule[] = RULES): (Violation & { rule: string })[] {
    return rules.flatMap((rule) => rule.check(resources).map((v) => ({ ...v, rule: rule.name })));
}
