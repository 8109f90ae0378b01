// What tests/e2e/policy.test.ts previews with the policy pack: byte-runner-infra in
// miniature, correct by default; with `broken: true` each mandatory rule is broken once, on
// a resource of its own (the test checks each violation names that resource). Nothing is
// created: the providers are never dialled during a preview.
import * as cloudflare from "@pulumi/cloudflare";
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { TYPES } from "../../policy/rules";

const config = new pulumi.Config();
const broken = config.getBoolean("broken") ?? false;
const allowUnverifiedCutover = config.getBoolean("allowUnverifiedCutover") ?? false;

class Component extends pulumi.ComponentResource {
    constructor(type: string, name: string, outputs: Record<string, unknown> = {}) {
        super(type, name, {}, {});
        this.registerOutputs(outputs);
    }
}

const host = "ssh://fixture@192.0.2.1:22";
const dockerProvider = new docker.Provider("docker", { host });
const cloudflareProvider = new cloudflare.Provider("cloudflare", { apiToken: pulumi.secret(`placeholder${"0".repeat(32)}`) });
const connection = { host: "192.0.2.1", user: "fixture", privateKey: pulumi.secret("not a key: nothing is dialled during a preview") };

const networks = new Component("byte-runner:network:Networks", "net");
const edge = new docker.Network("net-edge", { name: "fixture-edge" }, { parent: networks, provider: dockerProvider });
const internal = new docker.Network("net-internal", { name: "fixture-internal", internal: true }, { parent: networks, provider: dockerProvider });

interface ServiceArgs {
    image: string;
    networks: docker.Network[];
    memory?: number;
    ports?: number[];
    envs?: pulumi.Input<pulumi.Input<string>[]>;
}

function service(type: string, name: string, args: ServiceArgs): docker.Container {
    const component = new Component(type, name);
    const image = new docker.RemoteImage(`${name}-image`, { name: args.image, keepLocally: true }, { parent: component, provider: dockerProvider });
    return new docker.Container(
        name,
        {
            name: `fixture-${name}`,
            image: image.imageId,
            memory: args.memory,
            restart: "unless-stopped",
            envs: args.envs,
            healthcheck: { tests: ["CMD", "true"] },
            logDriver: "json-file",
            logOpts: { "max-size": "10m", "max-file": "3" },
            networksAdvanced: args.networks.map((n) => ({ name: n.name })),
            ports: (args.ports ?? []).map((port) => ({ internal: port, external: port, protocol: "tcp" })),
        },
        { parent: component, provider: dockerProvider },
    );
}

// only-proxy-publishes-ports: broken, Postgres publishes its port.
service(TYPES.postgres, "postgres", { image: "postgres:15.18-bookworm", networks: [internal], memory: 512, ports: broken ? [5432] : [] });
// images-pinned and containers-memory-limited: broken, PgBouncer runs latest without a limit.
service(TYPES.pooler, "pooler", { image: broken ? "edoburu/pgbouncer:latest" : "edoburu/pgbouncer:v1.24.1-p1", networks: [internal], memory: broken ? undefined : 128 });
// data-services-off-edge: broken, SuperTokens joins the edge network.
service(TYPES.supertokens, "supertokens", { image: "registry.supertokens.io/supertokens/supertokens-postgresql:11.0.0", networks: broken ? [internal, edge] : [internal], memory: 512 });
// no-plain-secrets: broken, the backend's database URL (with its password) is plain.
const databaseUrl = "DATABASE_URL=postgresql://app:hunter2@pgbouncer:6432/app";
service("byte-runner:app:AppService", "backend", {
    image: "ghcr.io/byte-runner/backend:1.0.0",
    networks: [edge, internal],
    memory: 512,
    envs: broken ? ["NODE_ENV=production", databaseUrl] : pulumi.secret(["NODE_ENV=production", databaseUrl]),
});
service(TYPES.proxy, "proxy", { image: "caddy:2.10.2-alpine", networks: [edge], memory: 256, ports: [80, 443] });

// prod-dns-cutover-gated: broken, the A record does not wait for the migration's verify step.
const migration = new Component(TYPES.migration, "migration");
const verify = new command.remote.Command("migration-verify", { connection, create: "true" }, { parent: migration });
const dns = new Component(TYPES.dns, "dns", { environment: "prod", target: "vps", allowUnverifiedCutover });
new cloudflare.DnsRecord(
    "dns-api",
    { zoneId: "5f3c8a1e2b7d4c6f9a0e1d2c3b4a5f60", name: "api.fixture.example", type: "A", content: "192.0.2.1", proxied: true, ttl: 1 },
    { parent: dns, provider: cloudflareProvider, dependsOn: broken ? [] : [verify] },
);
