// byte-runner on one VPS: the whole system in one page. Config is validated first
// (config.ts); nothing is registered when it is wrong.
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./config";
import { AppService } from "./components/app";
import { Backup } from "./components/backup";
import { Dns } from "./components/dns";
import { Firewall } from "./components/firewall";
import { Host } from "./components/host";
import { Migration } from "./components/migration";
import { CADDY_TARGET, Monitoring, hasPeopleReceiver } from "./components/monitoring";
import { Networks } from "./components/network";
import { Pooler } from "./components/pooler";
import { MONITOR_ROLE, Postgres, POSTGRES_HOST, POSTGRES_PORT, postgresNames } from "./components/postgres";
import { Proxy, PROXY_PORTS } from "./components/proxy";
import { SuperTokens } from "./components/supertokens";
import { OriginCertificate } from "./components/tls";

const cfg = loadConfig();
const prefix = `byte-runner-${cfg.stack}`;
const logRotation = { maxSizeMb: cfg.host.logMaxSizeMb, maxFiles: cfg.host.logMaxFiles };

// 1. The VPS: SSH, bootstrap (Docker, log rotation, upgrades, swap), Docker over ssh://.
const host = new Host("vps", {
    ...cfg.host,
    sshDir: process.env.BYTE_RUNNER_SSH_DIR ?? path.join(".state", "ssh", cfg.stack),
});
const onHost = { providers: [host.docker] };
if (cfg.firewall.enabled) {
    new Firewall(
        "firewall",
        { ...cfg.firewall, connection: host.connection, sudo: host.sudo, sshPort: cfg.host.sshPort, publicPorts: [...PROXY_PORTS] },
        { dependsOn: [host.bootstrap] },
    );
}

// 2. Networks: edge (proxy <-> apps) and internal (apps <-> data, no route out).
const networks = new Networks("net", { namePrefix: prefix, monitoring: cfg.monitoring !== undefined }, onHost);

// 3. Data: Postgres with a volume that outlives everything and its WAL archived by
//    pgBackRest into a local and an offsite repository, then the pooler in front.
const appDb = { role: "app", database: "app" };
const authDb = { role: "supertokens", database: "supertokens" };
if (!cfg.backup.offsite) {
    pulumi.log.warn(
        `Backups of stack ${cfg.stack} have no offsite repository: they are lost with the VPS${cfg.environment === "prod" ? " (backupAllowNoOffsite)" : ""}. Set backupOffsiteEndpoint and its keys.`,
    );
}
const backup = new Backup(
    "backup",
    {
        ...cfg.backup,
        namePrefix: prefix,
        baseImage: cfg.postgres.image,
        postgres: postgresNames(prefix),
        databases: [appDb.database, authDb.database],
        internalNetwork: networks.internal.name,
        egressNetwork: networks.egress.name,
        logRotation,
        connection: host.connection,
        sudo: host.sudo,
    },
    onHost,
);
const postgres = new Postgres(
    "postgres",
    {
        ...cfg.postgres,
        image: backup.image,
        extraSettings: backup.postgresSettings(),
        extraVolumes: backup.postgresVolumes(),
        extraNetworks: backup.postgresNetworks(),
        hosts: backup.offsiteHosts(),
        namePrefix: prefix,
        internalNetwork: networks.internal.name,
        logRotation,
        databases: [appDb, authDb],
        connection: host.connection,
        sudo: host.sudo,
    },
    onHost,
);
const pooler = new Pooler(
    "pooler",
    {
        ...cfg.pooler,
        namePrefix: prefix,
        internalNetwork: networks.internal.name,
        database: appDb.database,
        role: appDb.role,
        rolePassword: postgres.passwords[appDb.role],
        serverHost: POSTGRES_HOST,
        serverPort: POSTGRES_PORT,
        logRotation,
    },
    { ...onHost, dependsOn: [postgres.roles] },
);

// 4. Auth: SuperTokens Core, internal only.
const supertokens = new SuperTokens(
    "supertokens",
    { ...cfg.supertokens, namePrefix: prefix, internalNetwork: networks.internal.name, databaseUrl: postgres.directUrl(authDb), logRotation },
    { ...onHost, dependsOn: [postgres.roles] },
);

// 5. Apps: the backend talks to the pooler and the core; the frontend only to the proxy.
const backend = new AppService(
    "backend",
    {
        ...cfg.backend,
        namePrefix: prefix,
        serviceName: "backend",
        connection: host.connection,
        sudo: host.sudo,
        sshCommand: host.sshCommand,
        networks: [networks.edge.name, networks.internal.name],
        clearEnv: {
            NODE_ENV: "production",
            DB_POOL_SIZE: String(cfg.pooler.defaultPoolSize),
            SUPERTOKENS_CONNECTION_URI: supertokens.connectionUri,
            API_DOMAIN: `https://${cfg.apiHost}`,
            WEBSITE_DOMAIN: `https://${cfg.frontendHost}`,
        },
        secretEnv: {
            DATABASE_URL: pooler.databaseUrl,
            DIRECT_DATABASE_URL: postgres.directUrl(appDb),
            SUPERTOKENS_API_KEY: supertokens.apiKey,
            ...(cfg.backend.sentryDsn ? { SENTRY_DSN: cfg.backend.sentryDsn } : {}),
        },
        logRotation,
    },
    { ...onHost, dependsOn: [pooler, supertokens] },
);

const frontend = new AppService(
    "frontend",
    {
        ...cfg.frontend,
        namePrefix: prefix,
        serviceName: "frontend",
        connection: host.connection,
        sudo: host.sudo,
        sshCommand: host.sshCommand,
        networks: [networks.edge.name],
        clearEnv: { NODE_ENV: "production", API_URL: `https://${cfg.apiHost}` },
        secretEnv: {},
        logRotation,
    },
    onHost,
);

// The stanza and the scheduler need the running database; a restore stops these services.
backup.schedule(
    postgres,
    [
        { name: backend.service, container: backend.container },
        ...[supertokens, pooler].map((service) => ({ name: service.containerName, container: service.container })),
    ],
);

// 6. Migration day: Supabase -> this Postgres, once per migrationRunId. migrationMode dump:
//    dump -> restore -> verify, the backend stopped from restore to verify. replicate: the
//    phases of migrationPhase (sync, then cutover; or abort), the backend stopped from sync to
//    cutover. With migrationAuthSourceDatabaseUrl the SuperTokens core's data follows in its
//    own chain (always by dump: it is an export, not a live database).
const migration =
    cfg.migration &&
    new Migration(
        "migration",
        {
            ...cfg.migration,
            connection: host.connection,
            sudo: host.sudo,
            targetDatabaseUrl: postgres.superuserUrl(appDb.database),
            appRole: appDb.role,
            appService: { name: backend.service, container: backend.container, ready: backend.release },
            image: cfg.postgres.image,
            edgeNetwork: networks.edge.name,
            internalNetwork: networks.internal.name,
            auth: cfg.migration.authSourceDatabaseUrl && {
                sourceDatabaseUrl: cfg.migration.authSourceDatabaseUrl,
                targetDatabaseUrl: postgres.superuserUrl(authDb.database),
                role: authDb.role,
                service: { name: supertokens.containerName, container: supertokens.container },
            },
        },
        { dependsOn: [postgres.roles] },
    );

// 7. The edge of the VPS: Caddy, the only container with published ports, and DNS.
const wwwRedirect = cfg.frontendHost === cfg.domain ? [{ from: `www.${cfg.domain}`, to: cfg.domain }] : [];
const originCertificate =
    cfg.proxy.tlsMode === "origin-ca"
        ? new OriginCertificate("origin-cert", {
              zoneId: cfg.dns.zoneId,
              hostnames: [cfg.frontendHost, cfg.apiHost, ...wwwRedirect.map((r) => r.from)],
              manageZoneSettings: cfg.dns.manageZoneSettings,
          })
        : undefined;
const proxy = new Proxy(
    "proxy",
    {
        ...cfg.proxy,
        namePrefix: prefix,
        edgeNetwork: networks.edge.name,
        routes: [
            { host: cfg.frontendHost, upstreamFile: frontend.upstreamFile },
            { host: cfg.apiHost, upstreamFile: backend.upstreamFile },
        ],
        redirects: wwwRedirect,
        originCertificate,
        logRotation,
        // The probes reach the sites by their public names, straight at Caddy.
        extraNetworks: networks.monitoring
            ? [{ name: networks.monitoring.name, aliases: ["caddy", cfg.frontendHost, cfg.apiHost, ...wwwRedirect.map((r) => r.from)] }]
            : [],
    },
    { ...onHost, dependsOn: [backend, frontend] },
);

// 8. Eyes on all of it: metrics, alert rules, Alertmanager (people and a dead-man service off
//    the VPS), Grafana; UIs only through an SSH tunnel.
if (!cfg.monitoring) {
    pulumi.log.warn(`Stack ${cfg.stack} runs without monitoring (monitoringEnabled): nothing tells anyone when it breaks.`);
} else {
    if (!hasPeopleReceiver(cfg.monitoring.receivers)) {
        pulumi.log.warn(`Alerts of stack ${cfg.stack} reach nobody: set alertEmailTo, alertWebhookUrl or alertSlackWebhookUrl.`);
    }
    if (!cfg.monitoring.deadman) {
        pulumi.log.warn(`Nothing off the VPS notices when stack ${cfg.stack}'s VPS dies: set alertDeadmanUrl (a dead-man service's ping URL).`);
    }
}
const monitoring =
    cfg.monitoring && networks.monitoring && networks.notify
        ? new Monitoring(
              "monitoring",
              {
                  ...cfg.monitoring,
                  namePrefix: prefix,
                  stack: cfg.stack,
                  networks: { monitoring: networks.monitoring.name, notify: networks.notify.name, internal: networks.internal.name },
                  sites: {
                      api: { host: cfg.apiHost, probeUrl: `https://${cfg.apiHost}${cfg.backend.healthPath}` },
                      frontend: { host: cfg.frontendHost, probeUrl: `https://${cfg.frontendHost}${cfg.frontend.healthPath}` },
                  },
                  caddyTarget: CADDY_TARGET,
                  postgres: { uri: `${POSTGRES_HOST}:${POSTGRES_PORT}/postgres?sslmode=disable`, user: MONITOR_ROLE, password: postgres.monitorPassword },
                  pgbouncerStatsUrl: pooler.statsUrl,
                  textfileDir: backup.dirs.metrics,
                  logRotation,
              },
              { ...onHost, dependsOn: [postgres.roles, pooler, proxy] },
          )
        : undefined;
if (cfg.dns.zoneId !== "") {
    if (cfg.dns.target === "vps" && !migration) {
        pulumi.log.warn(`DNS points at the VPS without a verified data migration in stack ${cfg.stack} (dnsAllowUnverifiedCutover).`);
    }
    new Dns("dns", {
        ...cfg.dns,
        environment: cfg.environment,
        domain: cfg.domain,
        frontendHost: cfg.frontendHost,
        apiHost: cfg.apiHost,
        ipv4Address: cfg.dns.ipv4Address || cfg.host.address,
        cutoverGate: migration ? migration.verified : [],
    });
}

export const frontendUrl = `https://${cfg.frontendHost}`;
export const apiUrl = `https://${cfg.apiHost}`;
export const dbTunnelHint = pulumi.interpolate`ssh -p ${cfg.host.sshPort} -N -L 15432:${postgres.container.networkDatas.apply((n) => n?.[0]?.ipAddress ?? "<postgres-ip>")}:${POSTGRES_PORT} ${host.sshTarget}  # then psql -h 127.0.0.1 -p 15432 -U app app`;
export const databaseUrl = pooler.databaseUrl;
export const directDatabaseUrl = postgres.directUrl(appDb);
export const poolerStatsUrl = pooler.statsUrl;
export const supertokensApiKey = supertokens.apiKey;
/** Keep a second copy of this outside the VPS and its backups (INFRASTRUCTURE.md, Backups): without it no backup can be read. */
export const backupPassphrase = pulumi.secret(backup.passphrase);
/** The monitoring UIs on this machine: Grafana at localhost:3000, Prometheus at :9090, Alertmanager at :9093. */
export const monitoringTunnel = monitoring
    ? pulumi.interpolate`ssh -p ${cfg.host.sshPort} -N ${monitoring.tunnelForwards()} ${host.sshTarget}`
    : "monitoring is off (monitoringEnabled)";
export const grafanaAdminPassword = monitoring?.grafanaAdminPassword ?? "no Grafana in this stack (monitoringGrafanaImage)";
export const backupCommand = `ssh -p ${cfg.host.sshPort} ${cfg.host.sshUser}@${cfg.host.address} ${cfg.host.sshUser === "root" ? "" : "sudo "}/usr/local/sbin/${prefix}-backup info`;
