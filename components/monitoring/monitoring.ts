import * as docker from "@pulumi/docker";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Limits } from "../../config";
import { CADDY_METRICS_PORT } from "../proxy/ports";
import { LogRotation, serviceContainer } from "../shared/container";
import { serviceImage } from "../shared/image";
import { childOf } from "../shared/options";
import { ALERTMANAGER_CONFIG_FILE, alertmanagerConfig, Receivers } from "./alertmanager-config";
import { grafanaProvisioning } from "./dashboards";
import { PROMETHEUS_CONFIG_FILE, PROMETHEUS_RULES_DIR, prometheusConfig, siteRelabel } from "./prometheus-config";
import { AlertThresholds, ruleFiles } from "./thresholds";

/** The monitoring set's containers: DNS name on the monitoring network, port, and share of monitoringMemoryMb. */
export const MONITORING_SERVICES = {
    prometheus: { port: 9090, memoryWeight: 38 },
    alertmanager: { port: 9093, memoryWeight: 7 },
    "node-exporter": { port: 9100, memoryWeight: 6 },
    "postgres-exporter": { port: 9187, memoryWeight: 8 },
    "blackbox-exporter": { port: 9115, memoryWeight: 7 },
    "byte-runner-exporter": { port: 9469, memoryWeight: 12 },
    grafana: { port: 3000, memoryWeight: 22 },
} as const;
export type MonitoringService = keyof typeof MONITORING_SERVICES;

/** Each container's memory limit: monitoringMemoryMb shared by weight among the containers that run. */
export function memoryShares(totalMb: number, services: MonitoringService[]): Record<MonitoringService, number> {
    const weights = services.reduce((sum, s) => sum + MONITORING_SERVICES[s].memoryWeight, 0);
    return Object.fromEntries(services.map((s) => [s, Math.floor((totalMb * MONITORING_SERVICES[s].memoryWeight) / weights)])) as Record<MonitoringService, number>;
}

const EXPORTER_SCRIPT = path.join(__dirname, "exporter", "byte-runner-exporter.js");
const POSTGRES_QUERIES = path.join(__dirname, "postgres-queries.yml");
const BLACKBOX_MODULE = "http_2xx";
/** Connection strings as files inside their containers (secret uploads), never in the environment. */
const POSTGRES_EXPORTER_PASSWORD_FILE = "/etc/postgres_exporter/password";
const EXPORTER_PGBOUNCER_URL_FILE = "/opt/byte-runner/pgbouncer-url";
const GRAFANA_ADMIN_PASSWORD_FILE = "/etc/grafana/admin-password";
/** The blackbox exporter's one module: a 2xx over HTTPS; the chain is not checked (Origin CA and Caddy's internal CA are private), the expiry is. */
const BLACKBOX_CONFIG = [
    "modules:",
    `  ${BLACKBOX_MODULE}:`,
    "    prober: http",
    "    timeout: 5s",
    "    http:",
    "      preferred_ip_protocol: ip4",
    "      tls_config:",
    "        insecure_skip_verify: true",
    "",
].join("\n");

export interface MonitoringArgs {
    namePrefix: string;
    stack: string;
    images: {
        prometheus: string;
        alertmanager: string;
        nodeExporter: string;
        postgresExporter: string;
        blackboxExporter: string;
        exporter: string;
        /** "" for no Grafana (it cannot run on the local stack). */
        grafana: string;
    };
    scrapeIntervalSeconds: number;
    retentionDays: number;
    /** Test stacks: every rule's `for:` at most this long; 0 keeps them. */
    ruleForCapSeconds: number;
    /** For the whole set; shared out by MONITORING_SERVICES' weights. */
    limits: Limits;
    thresholds: AlertThresholds;
    receivers: Receivers<pulumi.Input<string>>;
    deadman?: { url: pulumi.Input<string>; intervalSeconds: number };
    groupWaitSeconds: number;
    groupIntervalSeconds: number;
    networks: {
        /** Prometheus and all it scrapes; no route out. */
        monitoring: pulumi.Input<string>;
        /** Alertmanager's way out to the receivers. */
        notify: pulumi.Input<string>;
        /** Where Postgres and PgBouncer are. */
        internal: pulumi.Input<string>;
    };
    /** The sites Caddy serves (`site` label -> hostname) and the URL of each that the blackbox exporter probes. */
    sites: Record<string, { host: string; probeUrl: string }>;
    /** `host:port` of Caddy's metrics on the monitoring network. */
    caddyTarget: string;
    /** postgres_exporter's connection: `host:port/database?options`, the monitoring role and its password (secret). */
    postgres: { uri: string; user: string; password: pulumi.Input<string> };
    /** PgBouncer's admin console as its stats user (secret). */
    pgbouncerStatsUrl: pulumi.Input<string>;
    /** Host directory of the backups' textfile metrics (node_exporter reads it). */
    textfileDir: string;
    logRotation: LogRotation;
}

/**
 * The stack watching itself: Prometheus scrapes the host (node_exporter, which also reads the
 * backups' textfiles), Postgres, PgBouncer and the containers (the project's own exporter),
 * Caddy and blackbox probes of the public URLs, evaluates the rules of ./rules, and sends to
 * Alertmanager, which tells people (e-mail, webhook, Slack) and pings a dead-man service off
 * the VPS. Nothing publishes a port: the UIs are reached through an SSH tunnel (stack output
 * monitoringTunnel). Prometheus's and Alertmanager's data live in volumes kept on destroy.
 */
export class Monitoring extends pulumi.ComponentResource {
    public readonly containers: Partial<Record<MonitoringService, docker.Container>> = {};
    /** The container names on the host, by service. */
    public readonly containerNames: Record<MonitoringService, string>;
    public readonly prometheusConfig: string;
    /** Grafana's admin password (secret), when Grafana runs. */
    public readonly grafanaAdminPassword?: pulumi.Output<string>;

    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:monitoring:Monitoring", name, {}, opts);
        const prefix = args.namePrefix;
        const services = (Object.keys(MONITORING_SERVICES) as MonitoringService[]).filter((s) => s !== "grafana" || args.images.grafana !== "");
        const memory = memoryShares(args.limits.memoryMb, services);
        this.containerNames = Object.fromEntries(Object.keys(MONITORING_SERVICES).map((s) => [s, `${prefix}-${s}`])) as Record<MonitoringService, string>;
        const target = (s: MonitoringService) => `${s}:${MONITORING_SERVICES[s].port}`;
        const monitoringNet = (s: MonitoringService) => ({ name: args.networks.monitoring, aliases: [s] });
        const limits = (s: MonitoringService): Limits => ({ memoryMb: memory[s], cpus: args.limits.cpus });
        // Go services hold their heap under the container's limit instead of being killed at it.
        const goMemoryLimit = (s: MonitoringService) => ({ GOMEMLIMIT: `${Math.floor(memory[s] * 0.8)}MiB` });
        const httpHealth = (s: MonitoringService, urlPath: string) => ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${MONITORING_SERVICES[s].port}${urlPath}`];
        const image = (s: MonitoringService, ref: string) => serviceImage(`${name}-${s}-image`, ref, "", childOf(this, opts));
        const keptVolume = (s: MonitoringService) =>
            new docker.Volume(
                `${name}-${s}-data`,
                { name: `${prefix}-${s}`, labels: [{ label: "org.byte-runner.data", value: s }] },
                { ...childOf(this, opts), retainOnDelete: true },
            );
        const common = { logRotation: args.logRotation };

        // Prometheus: its config and rules are uploads, so a change replaces the container (a
        // few seconds without scrapes) and the preview shows the new text.
        this.prometheusConfig = prometheusConfig({
            stack: args.stack,
            scrapeIntervalSeconds: args.scrapeIntervalSeconds,
            alertmanager: target("alertmanager"),
            jobs: [
                { job: "prometheus", target: `localhost:${MONITORING_SERVICES.prometheus.port}` },
                { job: "alertmanager", target: target("alertmanager") },
                { job: "node", target: target("node-exporter") },
                { job: "postgres", target: target("postgres-exporter") },
                { job: "byte-runner", target: target("byte-runner-exporter") },
                { job: "blackbox", target: target("blackbox-exporter") },
                {
                    job: "caddy",
                    target: args.caddyTarget,
                    metricRelabel: siteRelabel(Object.fromEntries(Object.entries(args.sites).map(([site, s]) => [site, s.host]))),
                },
                ...(services.includes("grafana") ? [{ job: "grafana", target: target("grafana") }] : []),
            ],
            blackbox: { exporter: target("blackbox-exporter"), module: BLACKBOX_MODULE, urls: Object.values(args.sites).map((s) => s.probeUrl) },
        });
        const rules = ruleFiles(args.thresholds, args.ruleForCapSeconds > 0 ? { maxForSeconds: args.ruleForCapSeconds } : {});
        const prometheusData = keptVolume("prometheus");
        this.containers.prometheus = serviceContainer(
            `${name}-prometheus`,
            {
                containerName: this.containerNames.prometheus,
                image: image("prometheus", args.images.prometheus),
                networks: [monitoringNet("prometheus")],
                command: [
                    `--config.file=${PROMETHEUS_CONFIG_FILE}`,
                    "--storage.tsdb.path=/prometheus",
                    `--storage.tsdb.retention.time=${args.retentionDays}d`,
                    `--web.listen-address=:${MONITORING_SERVICES.prometheus.port}`,
                ],
                clearEnv: goMemoryLimit("prometheus"),
                uploads: [
                    { file: PROMETHEUS_CONFIG_FILE, content: this.prometheusConfig, permissions: "0644" },
                    ...rules.map((r) => ({ file: `${PROMETHEUS_RULES_DIR}/${r.name}`, content: r.content, permissions: "0644" })),
                ],
                volumes: [{ volumeName: prometheusData.name, containerPath: "/prometheus" }],
                healthcheck: httpHealth("prometheus", "/-/ready"),
                limits: limits("prometheus"),
                ...common,
            },
            childOf(this, opts),
        );

        // Alertmanager: the config holds the receivers' credentials, so it is a secret upload.
        const config = pulumi.secret(
            pulumi
                .all([
                    args.receivers.email?.password ?? "",
                    args.receivers.webhookUrl ?? "",
                    args.receivers.slackWebhookUrl ?? "",
                    args.deadman?.url ?? "",
                ])
                .apply(([password, webhookUrl, slackWebhookUrl, deadmanUrl]) =>
                    alertmanagerConfig({
                        receivers: {
                            email: args.receivers.email && { ...args.receivers.email, password: password === "" ? undefined : password },
                            webhookUrl: webhookUrl === "" ? undefined : webhookUrl,
                            slackWebhookUrl: slackWebhookUrl === "" ? undefined : slackWebhookUrl,
                        },
                        deadman: args.deadman && { url: deadmanUrl, intervalSeconds: args.deadman.intervalSeconds },
                        groupWaitSeconds: args.groupWaitSeconds,
                        groupIntervalSeconds: args.groupIntervalSeconds,
                    }),
                ),
        );
        const alertmanagerData = keptVolume("alertmanager");
        this.containers.alertmanager = serviceContainer(
            `${name}-alertmanager`,
            {
                containerName: this.containerNames.alertmanager,
                image: image("alertmanager", args.images.alertmanager),
                networks: [monitoringNet("alertmanager"), { name: args.networks.notify, aliases: [] }],
                command: [
                    `--config.file=${ALERTMANAGER_CONFIG_FILE}`,
                    "--storage.path=/alertmanager",
                    `--web.listen-address=:${MONITORING_SERVICES.alertmanager.port}`,
                    // One instance: no gossip port, no peers to look for.
                    "--cluster.listen-address=",
                ],
                clearEnv: goMemoryLimit("alertmanager"),
                // Readable by the image's user (nobody); it exists only inside this container.
                uploads: [{ file: ALERTMANAGER_CONFIG_FILE, content: config, permissions: "0644" }],
                volumes: [{ volumeName: alertmanagerData.name, containerPath: "/alertmanager" }],
                healthcheck: httpHealth("alertmanager", "/-/ready"),
                limits: limits("alertmanager"),
                ...common,
            },
            childOf(this, opts),
        );

        // node_exporter sees the host: its processes (pid host), its filesystems read-only at
        // /host, and the backups' textfiles. Without rslave propagation (refused where / is
        // not a shared mount): a filesystem mounted later shows after a restart of the exporter.
        this.containers["node-exporter"] = serviceContainer(
            `${name}-node-exporter`,
            {
                containerName: this.containerNames["node-exporter"],
                image: image("node-exporter", args.images.nodeExporter),
                networks: [monitoringNet("node-exporter")],
                command: [
                    "--path.rootfs=/host",
                    "--collector.textfile.directory=/textfile",
                    `--web.listen-address=:${MONITORING_SERVICES["node-exporter"].port}`,
                ],
                clearEnv: goMemoryLimit("node-exporter"),
                pidMode: "host",
                mounts: [
                    { type: "bind", source: "/", target: "/host", readOnly: true },
                    { type: "bind", source: args.textfileDir, target: "/textfile", readOnly: true },
                ],
                healthcheck: httpHealth("node-exporter", "/metrics"),
                limits: limits("node-exporter"),
                ...common,
            },
            childOf(this, opts),
        );

        this.containers["postgres-exporter"] = serviceContainer(
            `${name}-postgres-exporter`,
            {
                containerName: this.containerNames["postgres-exporter"],
                image: image("postgres-exporter", args.images.postgresExporter),
                networks: [monitoringNet("postgres-exporter"), { name: args.networks.internal, aliases: [] }],
                command: [`--web.listen-address=:${MONITORING_SERVICES["postgres-exporter"].port}`, "--extend.query-path=/etc/postgres_exporter/queries.yml"],
                // The password from a file, not the environment: `docker inspect` shows the environment.
                clearEnv: {
                    ...goMemoryLimit("postgres-exporter"),
                    DATA_SOURCE_URI: args.postgres.uri,
                    DATA_SOURCE_USER: args.postgres.user,
                    DATA_SOURCE_PASS_FILE: POSTGRES_EXPORTER_PASSWORD_FILE,
                },
                uploads: [
                    { file: "/etc/postgres_exporter/queries.yml", content: fs.readFileSync(POSTGRES_QUERIES, "utf8"), permissions: "0644" },
                    // Readable by the image's user (nobody); it exists only inside this container.
                    { file: POSTGRES_EXPORTER_PASSWORD_FILE, content: pulumi.secret(args.postgres.password), permissions: "0644" },
                ],
                // Its landing page: /metrics would query Postgres, and a Postgres down is PostgresDown, not an unhealthy exporter.
                healthcheck: httpHealth("postgres-exporter", "/"),
                limits: limits("postgres-exporter"),
                ...common,
            },
            childOf(this, opts),
        );

        this.containers["blackbox-exporter"] = serviceContainer(
            `${name}-blackbox-exporter`,
            {
                containerName: this.containerNames["blackbox-exporter"],
                image: image("blackbox-exporter", args.images.blackboxExporter),
                networks: [monitoringNet("blackbox-exporter")],
                command: ["--config.file=/etc/blackbox_exporter/config.yml", `--web.listen-address=:${MONITORING_SERVICES["blackbox-exporter"].port}`],
                clearEnv: goMemoryLimit("blackbox-exporter"),
                uploads: [{ file: "/etc/blackbox_exporter/config.yml", content: BLACKBOX_CONFIG, permissions: "0644" }],
                healthcheck: httpHealth("blackbox-exporter", "/-/healthy"),
                limits: limits("blackbox-exporter"),
                ...common,
            },
            childOf(this, opts),
        );

        // The project's own exporter: container states through the Docker socket (GET only),
        // PgBouncer's pools through its admin console. It runs as root to read the socket.
        const exporterPort = MONITORING_SERVICES["byte-runner-exporter"].port;
        this.containers["byte-runner-exporter"] = serviceContainer(
            `${name}-byte-runner-exporter`,
            {
                containerName: this.containerNames["byte-runner-exporter"],
                image: image("byte-runner-exporter", args.images.exporter),
                networks: [monitoringNet("byte-runner-exporter"), { name: args.networks.internal, aliases: [] }],
                command: ["node", "/opt/byte-runner/exporter.js"],
                clearEnv: {
                    PORT: String(exporterPort),
                    CONTAINER_PREFIX: `${prefix}-`,
                    PGBOUNCER_URL_FILE: EXPORTER_PGBOUNCER_URL_FILE,
                    NODE_OPTIONS: `--max-old-space-size=${Math.max(16, Math.floor(memory["byte-runner-exporter"] / 2))}`,
                },
                uploads: [
                    { file: "/opt/byte-runner/exporter.js", content: fs.readFileSync(EXPORTER_SCRIPT, "utf8"), permissions: "0644" },
                    { file: EXPORTER_PGBOUNCER_URL_FILE, content: pulumi.secret(args.pgbouncerStatsUrl), permissions: "0600" },
                ],
                volumes: [{ hostPath: "/var/run/docker.sock", containerPath: "/var/run/docker.sock" }],
                // The node image has neither wget nor curl.
                healthcheck: [
                    "CMD",
                    "node",
                    "-e",
                    `require("http").get("http://127.0.0.1:${exporterPort}/health", (r) => process.exit(r.statusCode === 200 ? 0 : 1)).on("error", () => process.exit(1))`,
                ],
                limits: limits("byte-runner-exporter"),
                ...common,
            },
            childOf(this, opts),
        );

        if (services.includes("grafana")) {
            const adminPassword = new random.RandomPassword(`${name}-grafana-admin-password`, { length: 32, special: false }, childOf(this, opts)).result;
            this.grafanaAdminPassword = pulumi.secret(adminPassword);
            const grafanaData = keptVolume("grafana");
            this.containers.grafana = serviceContainer(
                `${name}-grafana`,
                {
                    containerName: this.containerNames.grafana,
                    image: image("grafana", args.images.grafana),
                    networks: [monitoringNet("grafana")],
                    clearEnv: {
                        GF_SERVER_HTTP_PORT: String(MONITORING_SERVICES.grafana.port),
                        GF_USERS_ALLOW_SIGN_UP: "false",
                        GF_ANALYTICS_REPORTING_ENABLED: "false",
                        GF_ANALYTICS_CHECK_FOR_UPDATES: "false",
                        GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES: "false",
                        GF_SECURITY_ADMIN_PASSWORD__FILE: GRAFANA_ADMIN_PASSWORD_FILE,
                    },
                    // The admin password from a file, not the environment (`docker inspect` shows that); readable by Grafana's user (472).
                    uploads: [
                        ...grafanaProvisioning().map((f) => ({ file: f.file, content: f.content, permissions: "0644" })),
                        { file: GRAFANA_ADMIN_PASSWORD_FILE, content: pulumi.secret(adminPassword), permissions: "0644" },
                    ],
                    volumes: [{ volumeName: grafanaData.name, containerPath: "/var/lib/grafana" }],
                    healthcheck: httpHealth("grafana", "/api/health"),
                    limits: limits("grafana"),
                    ...common,
                },
                childOf(this, opts),
            );
        }
        this.registerOutputs({});
    }

    /** `ssh -L` arguments to reach each UI on the operator's machine at localhost:<port>. */
    public tunnelForwards(): pulumi.Output<string> {
        const uis: MonitoringService[] = ["grafana", "prometheus", "alertmanager"];
        return pulumi
            .all(
                uis
                    .filter((s) => this.containers[s] !== undefined)
                    .map((s) =>
                        this.containers[s]!.networkDatas.apply((nets) => {
                            const ip = nets?.find((n) => n.networkName?.endsWith("-monitoring"))?.ipAddress ?? `<${s}-ip>`;
                            return `-L ${MONITORING_SERVICES[s].port}:${ip}:${MONITORING_SERVICES[s].port}`;
                        }),
                    ),
            )
            .apply((forwards) => forwards.join(" "));
    }
}

/** `caddy:<port>`: Caddy's metrics on the monitoring network. */
export const CADDY_TARGET = `caddy:${CADDY_METRICS_PORT}`;
