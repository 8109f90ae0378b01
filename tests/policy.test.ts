// The policy pack's rules (policy/rules.ts) on crafted resources, and on the offline graph of
// both committed stacks: each rule fires on what it forbids with its own message, passes what
// the stacks do, and finds in the stacks what it is about (so a renamed component cannot make
// a rule pass by seeing nothing). The real engine runs the pack in tests/e2e/policy.test.ts.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { buildGraph, Graph, GraphResource, SECRET, UNKNOWN as GRAPH_UNKNOWN } from "../tools/graph";
import {
    checkAll,
    containersHealthchecked,
    containersLogsRotated,
    containersMemoryLimited,
    containersRestart,
    dataServicesOffEdge,
    imagesPinned,
    noPlainSecrets,
    onlyProxyPublishesPorts,
    prodCutoverGated,
    Rule,
    RuleResource,
    RULES,
    SECRET_SIG,
    secretLooking,
    SIG_KEY,
    TYPES,
    UNKNOWN,
} from "../policy/rules";

const STACK_URN = "urn:pulumi:prod::byte-runner-infra::pulumi:pulumi:Stack::byte-runner-infra-prod";
const urn = (chain: string[], name: string) => `urn:pulumi:prod::byte-runner-infra::${chain.join("$")}::${name}`;
const secret = (value: unknown) => ({ [SIG_KEY]: SECRET_SIG, value });

/** A container as components/shared/container.ts makes them, under the component `component`. */
function container(component: string, name: string, overrides: Record<string, unknown> = {}, extra: Partial<RuleResource> = {}): RuleResource {
    return {
        urn: urn([component, TYPES.container], name),
        type: TYPES.container,
        parent: urn([component], name),
        props: {
            name: `byte-runner-prod-${name}`,
            image: "sha256:" + "a".repeat(64),
            memory: 256,
            restart: "unless-stopped",
            healthcheck: { tests: ["CMD", "true"] },
            logOpts: { "max-size": "10m", "max-file": "3" },
            networksAdvanced: [{ name: "byte-runner-prod-internal", aliases: [name] }],
            ports: [],
            ...overrides,
        },
        ...extra,
    };
}
const network = (name: string): RuleResource => ({ urn: urn(["byte-runner:network:Networks", TYPES.network], `net-${name}`), type: TYPES.network, props: { name: `byte-runner-prod-${name}` } });
const check = (rule: Rule, resources: RuleResource[]) => rule.check(resources);

describe("policy rules on crafted resources", () => {
    it("only-proxy-publishes-ports: a published database port fails, the proxy's 80 and 443 pass, anything more on the proxy fails", () => {
        const db = container(TYPES.postgres, "postgres", { ports: [{ internal: 5432, external: 5432, protocol: "tcp" }] });
        const proxy = container(TYPES.proxy, "proxy", { ports: [80, 443].map((p) => ({ internal: p, external: p, protocol: "tcp" })) });
        const proxyExtra = container(TYPES.proxy, "proxy", { ports: [{ internal: 2019, external: 2019, protocol: "tcp" }] });
        assert.deepEqual(check(onlyProxyPublishesPorts, [db]), [
            { urn: db.urn, message: `postgres (${TYPES.container}) publishes 5432->5432/tcp: only the proxy publishes ports.` },
        ]);
        assert.deepEqual(check(onlyProxyPublishesPorts, [proxy]), []);
        assert.match(check(onlyProxyPublishesPorts, [proxyExtra])[0].message, /publishes 2019->2019\/tcp: the proxy publishes only 80 and 443/);
        assert.match(check(onlyProxyPublishesPorts, [container(TYPES.pooler, "pooler", { ports: UNKNOWN })])[0].message, /not known at preview/);
        assert.deepEqual(check(onlyProxyPublishesPorts, [container(TYPES.pooler, "pooler")]), []);
    });

    it("data-services-off-edge: Postgres, PgBouncer, SuperTokens, backups and monitoring on the edge network fail, by name or by dependency; the apps may sit there", () => {
        const edge = network("edge");
        const internal = network("internal");
        const onEdge = { networksAdvanced: [{ name: "byte-runner-prod-edge" }] };
        for (const [component, what] of [
            [TYPES.postgres, "Postgres"],
            [TYPES.pooler, "PgBouncer"],
            [TYPES.supertokens, "SuperTokens"],
            [TYPES.monitoring, "monitoring"],
            [TYPES.backup, "the backups"],
        ]) {
            const c = container(component, "svc", onEdge);
            assert.deepEqual(check(dataServicesOffEdge, [edge, internal, c]), [
                { urn: c.urn, message: `svc (${TYPES.container}) is a ${what} container on the edge network (byte-runner-prod-edge): ${what} never sits on the edge network.` },
            ]);
        }
        // The network's name unknown at preview: the dependency on the edge network tells.
        const byDependency = container(TYPES.pooler, "pooler", { networksAdvanced: [{ name: UNKNOWN }] }, { propertyDependencies: { networksAdvanced: [edge.urn] } });
        assert.match(check(dataServicesOffEdge, [edge, byDependency])[0].message, /PgBouncer container on the edge network \(net-edge\)/);
        assert.deepEqual(check(dataServicesOffEdge, [edge, internal, container(TYPES.postgres, "postgres"), container("byte-runner:app:AppService", "backend", onEdge)]), []);
    });

    it("images-pinned: latest, a bare name and a tag without a version fail; versions, digests and image ids pass", () => {
        const remote = (name: string): RuleResource => ({ urn: urn(["byte-runner:pooler:Pooler", TYPES.remoteImage], "img"), type: TYPES.remoteImage, props: { name } });
        for (const ref of ["postgres:latest", "postgres", "caddy:alpine"]) {
            assert.deepEqual(check(imagesPinned, [remote(ref)]), [
                { urn: remote(ref).urn, message: `img (${TYPES.remoteImage}) name ${JSON.stringify(ref)} is not pinned: use a tag with a version in it (1.2.3, 15.18-bookworm) or an @sha256: digest.` },
            ]);
        }
        for (const ref of ["postgres:15.18-bookworm", `caddy@sha256:${"b".repeat(64)}`, "edoburu/pgbouncer:v1.24.1-p1"]) assert.deepEqual(check(imagesPinned, [remote(ref)]), [], ref);
        assert.match(check(imagesPinned, [container(TYPES.postgres, "postgres", { image: "postgres:latest" })])[0].message, /image "postgres:latest" is not pinned/);
        assert.deepEqual(check(imagesPinned, [container(TYPES.postgres, "postgres", { image: UNKNOWN })]), []);
        const built: RuleResource = { urn: urn([TYPES.image], "app-image"), type: TYPES.image, props: { imageName: "byte-runner-local/backend" } };
        assert.equal(check(imagesPinned, [built]).length, 1);
    });

    it("no-plain-secrets: a URL with a password, a private key, a token or a password-named value in plain text fails; the same as secrets passes", () => {
        const pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
        const plain = container("byte-runner:app:AppService", "backend", {
            envs: ["NODE_ENV=production", "DATABASE_URL=postgresql://app:hunter2@pgbouncer:6432/app", "SUPERTOKENS_API_KEY=0123456789abcdef"],
        });
        assert.deepEqual(
            check(noPlainSecrets, [plain]).map((v) => v.message),
            [
                `backend (${TYPES.container}) input envs[1] holds a URL with a password in it in plain text: make it a secret (pulumi config set --secret, or pulumi.secret()).`,
                `backend (${TYPES.container}) input envs[2] holds a value named SUPERTOKENS_API_KEY in plain text: make it a secret (pulumi config set --secret, or pulumi.secret()).`,
            ],
        );
        const wrapped = container("byte-runner:app:AppService", "backend", { envs: secret(["DATABASE_URL=postgresql://app:hunter2@pgbouncer:6432/app"]) });
        assert.deepEqual(check(noPlainSecrets, [wrapped]), []);
        const command: RuleResource = {
            urn: urn([TYPES.remoteCommand], "vps-bootstrap"),
            type: TYPES.remoteCommand,
            props: { connection: { host: "203.0.113.10", user: "root", privateKey: pem }, create: "bash /x.sh" },
        };
        assert.match(check(noPlainSecrets, [command])[0].message, /input connection\.privateKey holds a private key in plain text/);
        assert.deepEqual(check(noPlainSecrets, [{ ...command, props: { connection: { host: "h", privateKey: secret(pem) }, create: "bash /x.sh" } }]), []);
        assert.match(check(noPlainSecrets, [{ ...command, props: { password: "s3cret" } }])[0].message, /input password holds a value named password/);
    });

    it("no-plain-secrets: what only looks near a secret passes (references, files, public keys, URLs without passwords)", () => {
        for (const value of [
            "POSTGRES_PASSWORD_FILE=/run/secrets/postgres",
            "PGPASSWORD=$PGPASSWORD",
            "https://api.byte-runner.app/health",
            "postgresql://app@pgbouncer:6432/app",
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN4yJLhzv9ttKA+h233G8F3/ZbLIcAzor1u6vTT+TLXY",
            "API_KEYS=",
            "usage: pg-migrate postgresql://USER:PASSWORD@host/db",
        ]) {
            assert.equal(secretLooking(value), undefined, value);
        }
        assert.equal(secretLooking("x", "hostPublicKey"), undefined);
        assert.equal(secretLooking("ghp_" + "a".repeat(36)), "a GitHub token");
        assert.equal(secretLooking("AKIAABCDEFGHIJKLMNOP"), "an AWS access key id");
        assert.equal(secretLooking("https://0123456789abcdef0123456789abcdef@o1.ingest.sentry.io/42"), "a Sentry DSN");
    });

    it("containers-memory-limited: no limit or 0 fails, a limit passes", () => {
        const none = container(TYPES.pooler, "pooler", { memory: undefined });
        assert.deepEqual(check(containersMemoryLimited, [none]), [{ urn: none.urn, message: `pooler (${TYPES.container}) has no memory limit (memory: null): set one (<service>MemoryMb).` }]);
        assert.equal(check(containersMemoryLimited, [container(TYPES.pooler, "pooler", { memory: 0 })]).length, 1);
        assert.deepEqual(check(containersMemoryLimited, [container(TYPES.pooler, "pooler")]), []);
    });

    describe("prod-dns-cutover-gated", () => {
        const dns = (facts: Record<string, unknown>): RuleResource => ({ urn: urn([TYPES.dns], "dns"), type: TYPES.dns, parent: STACK_URN, props: facts });
        const record = (type: string, dependencies: string[] = []): RuleResource => ({
            urn: urn([TYPES.dns, TYPES.dnsRecord], "dns-api"),
            type: TYPES.dnsRecord,
            parent: urn([TYPES.dns], "dns"),
            props: { name: "api.byte-runner.app", type, content: type === "A" ? "203.0.113.10" : "old.example.net" },
            dependencies,
        });
        const step = (name: string): RuleResource => ({ urn: urn([TYPES.migration, TYPES.remoteCommand], name), type: TYPES.remoteCommand, props: {} });
        const prod = { environment: "prod", target: "vps", allowUnverifiedCutover: false };

        it("a prod A record with no verified migration in the stack fails, naming the override", () => {
            const r = record("A");
            assert.deepEqual(check(prodCutoverGated, [dns(prod), r]), [
                {
                    urn: r.urn,
                    message:
                        "prod DNS record api.byte-runner.app points at the VPS but this stack has no verified data migration: run the migration (migrationRunId) first, or set dnsAllowUnverifiedCutover: true to cut over without one.",
                },
            ]);
        });

        it("a prod A record that does not wait for every verify step fails; one that waits for all passes", () => {
            const verify = step("migration-verify");
            const authVerify = step("migration-auth-verify");
            assert.match(check(prodCutoverGated, [dns(prod), verify, authVerify, record("A", [verify.urn])])[0].message, /without waiting for migration-auth-verify/);
            assert.deepEqual(check(prodCutoverGated, [dns(prod), verify, authVerify, record("A", [verify.urn, authVerify.urn])]), []);
            // replicate's cutover step verifies too.
            const cutover = step("migration-cutover");
            assert.deepEqual(check(prodCutoverGated, [dns(prod), step("migration-sync"), cutover, record("A", [cutover.urn])]), []);
        });

        it("the override, staging, and legacy records pass; a Dns component that hides its facts fails", () => {
            assert.deepEqual(check(prodCutoverGated, [dns({ ...prod, allowUnverifiedCutover: true }), record("A")]), []);
            assert.deepEqual(check(prodCutoverGated, [dns({ ...prod, environment: "staging" }), record("A")]), []);
            assert.deepEqual(check(prodCutoverGated, [dns({ ...prod, target: "legacy" }), record("CNAME")]), []);
            assert.match(check(prodCutoverGated, [dns({}), record("A")])[0].message, /does not register environment, target and allowUnverifiedCutover/);
        });
    });

    it("advisory rules: a container without healthcheck, log rotation or restart policy is reported", () => {
        const bare = container(TYPES.pooler, "pooler", { healthcheck: undefined, logOpts: undefined, restart: "no" });
        assert.match(check(containersHealthchecked, [bare])[0].message, /has no healthcheck/);
        assert.match(check(containersLogsRotated, [bare])[0].message, /does not rotate its logs/);
        assert.match(check(containersRestart, [bare])[0].message, /has restart "no": use unless-stopped/);
        assert.deepEqual(checkAll([container(TYPES.pooler, "pooler")]), []);
    });
});

/** The offline graph's resources as the engine would send them to the pack (inputs, secrets as wire secrets). */
function asPolicyResources(stack: string, graph: Graph): RuleResource[] {
    const components = new Map(graph.resources.filter((r) => !r.type.includes("/")).map((r) => [r.name, r]));
    const chain = (r: GraphResource): string[] => {
        const types: string[] = [];
        for (let at: GraphResource | undefined = r; at && at.type !== "pulumi:pulumi:Stack"; at = at.parent ? components.get(at.parent) : undefined) types.unshift(at.type);
        return types;
    };
    const urnOf = (r: GraphResource) => `urn:pulumi:${stack}::byte-runner-infra::${chain(r).join("$")}::${r.name}`;
    const byName = (name: string) => graph.resources.filter((r) => r.name === name).map(urnOf);
    const wire = (masked: unknown, revealed: unknown): unknown => {
        if (masked === SECRET) return secret(revealed);
        // The mocks' image ids stand for what a preview does not know yet.
        if (masked === GRAPH_UNKNOWN || (typeof masked === "string" && masked.startsWith("sha256:mock-"))) return UNKNOWN;
        if (Array.isArray(masked)) return masked.map((m, i) => wire(m, (revealed as unknown[])[i]));
        if (typeof masked === "object" && masked !== null) {
            return Object.fromEntries(Object.entries(masked).map(([k, m]) => [k, wire(m, (revealed as Record<string, unknown>)[k])]));
        }
        return masked;
    };
    return graph.resources.map((r) => ({
        urn: urnOf(r),
        type: r.type,
        // Stack rules see outputs (a component's registerOutputs); resource rules see inputs (the stack has none).
        props: r.type === "pulumi:pulumi:Stack" ? {} : (r.registeredOutputs ?? (wire(r.inputs, r.revealed) as Record<string, unknown>)),
        parent: r.parent && components.has(r.parent) ? urnOf(components.get(r.parent) as GraphResource) : undefined,
        dependencies: r.dependsOn.flatMap(byName),
    }));
}

for (const stack of ["staging", "prod"]) {
    describe(`policy rules on the committed ${stack} stack (offline graph)`, () => {
        let resources: RuleResource[];
        before(async () => {
            resources = asPolicyResources(stack, await buildGraph(stack));
        });

        it("break no rule, mandatory or advisory", () => {
            assert.deepEqual(checkAll(resources), []);
        });

        it("hold what each rule is about: the proxy's ports, the data services and the edge network, images, containers, the Dns component's facts", () => {
            const containers = resources.filter((r) => r.type === TYPES.container);
            assert.ok(containers.length >= 8, `${containers.length} containers`);
            const proxy = containers.filter((c) => c.urn.includes(`${TYPES.proxy}$`));
            assert.equal(proxy.length, 1);
            assert.equal((proxy[0].props.ports as unknown[]).length, 2);
            for (const component of [TYPES.postgres, TYPES.pooler, TYPES.supertokens, TYPES.monitoring, TYPES.backup]) {
                assert.ok(containers.some((c) => c.urn.includes(`${component}$`)), `no container under ${component}`);
            }
            assert.ok(resources.some((r) => r.type === TYPES.network && String(r.props.name).endsWith("-edge")), "no edge network");
            assert.ok(resources.filter((r) => r.type === TYPES.remoteImage).length >= 4);
            assert.ok(resources.some((r) => r.type === TYPES.remoteCommand && JSON.stringify(r.props).includes(SECRET_SIG)), "no secret command input");
            const dns = resources.find((r) => r.type === TYPES.dns);
            assert.deepEqual(dns?.props, { environment: stack, target: "legacy", allowUnverifiedCutover: false });
        });

        it("fail when the stack is broken the way each mandatory rule forbids", () => {
            const mandatory = RULES.filter((r) => r.enforcement === "mandatory").map((r) => r.name);
            const broken = resources.map((r) => {
                if (r.type === TYPES.dns) return { ...r, props: { ...r.props, environment: "prod", target: "vps" } };
                if (r.type === TYPES.dnsRecord) return { ...r, props: { ...r.props, type: "A" } };
                if (r.type === TYPES.remoteImage && r.urn.endsWith("::pooler-image")) return { ...r, props: { ...r.props, name: "edoburu/pgbouncer:latest" } };
                if (r.type !== TYPES.container) return r;
                if (r.urn.endsWith("::postgres")) return { ...r, props: { ...r.props, ports: [{ internal: 5432, external: 5432, protocol: "tcp" }] } };
                if (r.urn.endsWith("::supertokens")) return { ...r, props: { ...r.props, networksAdvanced: [{ name: `byte-runner-${stack}-edge` }] } };
                if (r.urn.endsWith("::pooler")) return { ...r, props: { ...r.props, memory: undefined } };
                if (r.urn.endsWith("::backend")) return { ...r, props: { ...r.props, envs: [...((r.props.envs as { value: string[] }).value ?? []), "DATABASE_URL=postgresql://app:pw@x/app"] } };
                return r;
            });
            const fired = new Set(checkAll(broken).map((v) => v.rule));
            assert.deepEqual(mandatory.filter((name) => !fired.has(name)), []);
        });
    });
}
