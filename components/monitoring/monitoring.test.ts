// What Prometheus and Alertmanager are given, checked by their own tools (promtool, amtool)
// and read for what users rely on: who hears of which alert, and when.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { KEYS } from "../../config";
import { builtTool } from "../../tests/built-tool";
import { allowedSkip, missingError } from "../../tests/skip";
import { buildGraph } from "../../tools/graph";
import { alertmanagerConfig, DEADMAN, NOBODY, PEOPLE } from "./alertmanager-config";
import { MONITORING_SERVICES, MonitoringService, memoryShares } from "./monitoring";
import { PROMETHEUS_RULES_DIR, prometheusConfig, siteRelabel } from "./prometheus-config";
import { ruleFiles } from "./thresholds";

const promtoolMissing = spawnSync("promtool", ["--version"]).error ? "promtool is not installed (Debian package prometheus)" : undefined;
// amtool of the release prod pins (Debian's 0.25 would check another grammar): built from its module.
const amtool = builtTool({
    program: "alertmanager",
    binary: "amtool",
    envVar: "BYTE_RUNNER_AMTOOL",
    image: String(KEYS.monitoringAlertmanagerImage.default),
    imageVersion: /^prom\/alertmanager:v(\d+\.\d+)\./,
    versionArgs: ["--version"],
    versionPrefix: (majorMinor) => `amtool, version ${majorMinor}.`,
});
const amtoolMissing = amtool.missing;

function run(tool: string, args: string[]): { status: number | null; output: string } {
    const r = spawnSync(tool, args, { encoding: "utf8", env: tool === "amtool" ? amtool.env : process.env });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const THRESHOLDS = { apiP95Seconds: 1, poolerWaitSeconds: 5, diskUsedRatio: 0.8, backupMaxAgeSeconds: 108000, drillMaxAgeSeconds: 626400 };
const SITES = { api: "api.byte-runner.app", frontend: "byte-runner.app" };

function prodPrometheusConfig(): string {
    return prometheusConfig({
        stack: "prod",
        scrapeIntervalSeconds: 30,
        alertmanager: "alertmanager:9093",
        jobs: [
            { job: "prometheus", target: "localhost:9090" },
            { job: "caddy", target: "caddy:2020", metricRelabel: siteRelabel(SITES) },
        ],
        blackbox: { exporter: "blackbox-exporter:9115", module: "http_2xx", urls: ["https://api.byte-runner.app/health", "https://byte-runner.app/"] },
    });
}

/** prometheus.yml and the rule files exactly as the prod stack uploads them into the Prometheus container. */
async function prodUploads(): Promise<{ file: string; content: string }[]> {
    const graph = await buildGraph("prod");
    const prometheus = graph.resources.find((r) => r.name === "monitoring-prometheus");
    assert.ok(prometheus, "no monitoring-prometheus container in the prod graph");
    return prometheus.inputs.uploads as { file: string; content: string }[];
}

describe("prometheus.yml", () => {
    it("passes promtool check config as the prod stack uploads it, with every rule file it loads", { skip: allowedSkip(promtoolMissing) }, async () => {
        if (promtoolMissing) throw missingError(promtoolMissing);
        const uploads = await prodUploads();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prometheus-uploads-"));
        try {
            for (const u of uploads) {
                const target = path.join(dir, u.file);
                fs.mkdirSync(path.dirname(target), { recursive: true });
                fs.writeFileSync(target, u.content.replaceAll(PROMETHEUS_RULES_DIR, path.join(dir, PROMETHEUS_RULES_DIR)));
            }
            const r = run("promtool", ["check", "config", path.join(dir, "etc/prometheus/prometheus.yml")]);
            assert.equal(r.status, 0, r.output);
            assert.match(r.output, new RegExp(`SUCCESS: ${uploads.length - 1} rule files found`));
            const jobs = (parse(uploads.find((u) => u.file.endsWith("prometheus.yml"))!.content).scrape_configs as { job_name: string }[]).map((j) => j.job_name);
            assert.deepEqual(jobs.sort(), ["alertmanager", "blackbox", "blackbox-http", "byte-runner", "caddy", "grafana", "node", "postgres", "prometheus"]);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("passes promtool check config with every rule file it loads", { skip: allowedSkip(promtoolMissing) }, () => {
        if (promtoolMissing) throw missingError(promtoolMissing);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "prometheus-config-"));
        try {
            fs.mkdirSync(path.join(dir, "rules"));
            for (const rule of ruleFiles(THRESHOLDS)) fs.writeFileSync(path.join(dir, "rules", rule.name), rule.content);
            fs.writeFileSync(path.join(dir, "prometheus.yml"), prodPrometheusConfig().replace(PROMETHEUS_RULES_DIR, path.join(dir, "rules")));
            const r = run("promtool", ["check", "config", path.join(dir, "prometheus.yml")]);
            assert.equal(r.status, 0, r.output);
            assert.match(r.output, new RegExp(`SUCCESS: ${ruleFiles(THRESHOLDS).length} rule files found`));
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("labels every series with the stack, probes each URL through the blackbox exporter, and turns Caddy's hostnames into sites", () => {
        const config = parse(prodPrometheusConfig());
        assert.deepEqual(config.global.external_labels, { stack: "prod" });
        const probes = config.scrape_configs.find((j: { job_name: string }) => j.job_name === "blackbox-http");
        assert.deepEqual(probes.static_configs[0].targets, ["https://api.byte-runner.app/health", "https://byte-runner.app/"]);
        assert.deepEqual(probes.relabel_configs.at(-1), { target_label: "__address__", replacement: "blackbox-exporter:9115" });
        const caddy = config.scrape_configs.find((j: { job_name: string }) => j.job_name === "caddy");
        // An anchored regex: api.byte-runner.app must not also be the frontend (byte-runner.app).
        const site = (host: string) =>
            caddy.metric_relabel_configs.find((r: { regex: string }) => new RegExp(`^(?:${r.regex})$`).test(host))?.replacement as string | undefined;
        assert.equal(site("api.byte-runner.app"), "api");
        assert.equal(site("byte-runner.app"), "frontend");
        assert.equal(site("byte-runner.app:443"), "frontend");
        assert.equal(site("apixbyte-runner.app"), undefined);
        assert.equal(site("evil.example"), undefined);
    });
});

describe("alertmanager.yml", () => {
    const full = alertmanagerConfig({
        receivers: {
            email: { to: "ops@byte-runner.app", from: "alerts@byte-runner.app", smarthost: "smtp.byte-runner.app:587", username: "alerts", password: "smtp-secret" },
            webhookUrl: "https://hooks.example/abc?token=hook-secret",
            slackWebhookUrl: "https://hooks.slack.com/services/T0/B0/slack-secret",
        },
        deadman: { url: "https://hc-ping.com/deadman-secret", intervalSeconds: 60 },
        groupWaitSeconds: 30,
        groupIntervalSeconds: 300,
    });
    const none = alertmanagerConfig({ receivers: {}, groupWaitSeconds: 30, groupIntervalSeconds: 300 });

    for (const [name, text] of [
        ["every receiver", full],
        ["no receiver", none],
    ] as const) {
        it(`passes amtool check-config with ${name}`, { skip: allowedSkip(amtoolMissing) }, () => {
            if (amtoolMissing) throw missingError(amtoolMissing);
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "alertmanager-config-"));
            try {
                fs.writeFileSync(path.join(dir, "alertmanager.yml"), text);
                const r = run("amtool", ["check-config", path.join(dir, "alertmanager.yml")]);
                assert.equal(r.status, 0, r.output);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    }

    it("sends the Watchdog only to the dead-man service, as often as it expects, and every other alert to people by severity", () => {
        const config = parse(full);
        const [watchdog, critical, warning] = config.route.routes;
        assert.equal(config.route.receiver, PEOPLE);
        assert.deepEqual(watchdog.matchers, ['alertname="Watchdog"']);
        assert.equal(watchdog.receiver, DEADMAN);
        assert.equal(watchdog.repeat_interval, "60s");
        assert.equal(watchdog.group_interval, "60s");
        assert.equal(critical.receiver, PEOPLE);
        assert.deepEqual(critical.matchers, ['severity="critical"']);
        assert.equal(warning.receiver, PEOPLE);
        assert.equal(warning.repeat_interval, "24h");
        const people = config.receivers.find((r: { name: string }) => r.name === PEOPLE);
        assert.equal(people.email_configs[0].to, "ops@byte-runner.app");
        assert.equal(people.email_configs[0].send_resolved, true);
        assert.equal(people.webhook_configs[0].send_resolved, true);
        assert.equal(people.slack_configs[0].send_resolved, true);
        const deadman = config.receivers.find((r: { name: string }) => r.name === DEADMAN);
        assert.deepEqual(deadman.webhook_configs, [{ url: "https://hc-ping.com/deadman-secret", send_resolved: false }]);
    });

    it("silences only the consequences of a cause, never an unrelated warning", () => {
        const rules = parse(full).inhibit_rules as { source_matchers: string[]; target_matchers: string[]; equal?: string[] }[];
        for (const rule of rules) {
            // Every rule names its cause and its consequences: no blanket "critical silences warning".
            assert.match(rule.source_matchers.join(), /^alertname=/, JSON.stringify(rule));
            assert.match(rule.target_matchers.join(), /^alertname=/, JSON.stringify(rule));
        }
        const silenced = (source: string) => rules.filter((r) => r.source_matchers.includes(`alertname="${source}"`)).map((r) => r.target_matchers.join());
        assert.match(silenced("PostgresDown").join(), /PostgresConnectionsHigh/);
        assert.deepEqual(silenced("ApiErrorRateHigh"), []);
        assert.deepEqual(rules.find((r) => r.source_matchers.includes('alertname="ContainerStopped"'))?.equal, ["name"]);
    });

    it("without receivers, keeps alerts in Alertmanager only (nothing is sent anywhere)", () => {
        const config = parse(none);
        assert.equal(config.route.receiver, NOBODY);
        assert.ok(config.route.routes.every((r: { receiver: string }) => r.receiver === NOBODY));
        assert.deepEqual(config.receivers, [{ name: NOBODY }]);
    });
});

describe("the monitoring set's memory", () => {
    it("stays within monitoringMemoryMb, with or without Grafana, each container getting a share", () => {
        const all = Object.keys(MONITORING_SERVICES) as MonitoringService[];
        for (const services of [all, all.filter((s) => s !== "grafana")]) {
            for (const total of [256, 512, 1024]) {
                const shares = memoryShares(total, services);
                const sum = services.reduce((s, name) => s + shares[name], 0);
                assert.ok(sum <= total && sum > total - services.length, `${sum} of ${total}`);
                assert.ok(services.every((s) => shares[s] >= 14), JSON.stringify(shares));
            }
        }
    });
});
