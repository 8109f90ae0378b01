// The Grafana dashboards and their provisioning, checked without Grafana (it cannot run
// here): the JSON model Grafana 11.3 loads, a layout without overlaps, every query on the
// provisioned datasource, valid PromQL for a real promtool, and every query answering on
// the series a healthy stack has (promtool test rules). The end-to-end suite runs the same
// queries against the live local Prometheus.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml, stringify } from "yaml";
import { allowedSkip, missingError } from "../../tests/skip";
import {
    DATASOURCE_UID,
    GRAFANA_DASHBOARD_PROVIDERS_FILE,
    GRAFANA_DASHBOARDS_PATH,
    GRAFANA_DATASOURCES_FILE,
    type Dashboard,
    type DashboardPanel,
    dashboardQueries,
    dashboards,
    dataPanels,
    grafanaProvisioning,
} from "./dashboards";

const GRID_COLUMNS = 24;
const EXPECTED = ["api.json", "backups.json", "overview.json", "postgres.json"];

/** What a metric name may start with (the metric contract of issue 12), or be. */
const METRIC_PREFIXES = ["pg_", "caddy_", "node_", "byte_runner_", "probe_", "prometheus_", "alertmanager_", "threshold:"];
const METRIC_NAMES = ["up", "ALERTS"];

const parsed = dashboards().map(({ file, json }) => ({ file, dashboard: JSON.parse(json) as Dashboard }));

/**
 * The metric names a PromQL expression reads: identifiers that are not functions, keywords,
 * label names (in braces or grouping clauses), durations or numbers.
 */
function metricNames(expr: string): string[] {
    const stripped = expr
        .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
        .replace(/\{[^}]*\}/g, "{}")
        .replace(/\[[^\]]*\]/g, "")
        .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "");
    const keywords = new Set(["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan", "atan2"]);
    const names = new Set<string>();
    for (const m of stripped.matchAll(/\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*|([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/gi)) {
        const [, name, call] = m;
        if (name && !call && !keywords.has(name.toLowerCase())) names.add(name);
    }
    return [...names].sort();
}

// ------------------------------------------------------------------------------------------ promtool

const promtoolMissing = (() => {
    const r = spawnSync("promtool", ["--version"], { encoding: "utf8" });
    if (r.error) return `promtool is not installed (Debian package prometheus; tools/install-deps.sh installs it): ${r.error.message}`;
    return r.status === 0 ? undefined : `promtool --version failed: ${r.stderr}`;
})();

function runPromtool(args: string[], files: Record<string, string>): { status: number | null; output: string } {
    if (promtoolMissing) throw missingError(promtoolMissing);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dashboards-promtool-"));
    try {
        for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
        const r = spawnSync("promtool", args, { cwd: dir, encoding: "utf8" });
        return { status: r.status, output: `${r.stdout}${r.stderr}` };
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** A rule name per query, so promtool's messages point back at the dashboard and panel. */
const queries = dashboardQueries().map((q, i) => ({ ...q, rule: `dashboard_query_${i + 1}` }));
const describeQuery = (rule: string) => {
    const q = queries.find((x) => x.rule === rule);
    return q ? `${q.dashboard} / "${q.panel}" / ${q.refId}: ${q.expr}` : rule;
};

/**
 * The series a healthy stack has (names and labels as Prometheus stores them: job and
 * instance added, Caddy's host relabelled into site), one sample every 15 s for 75 min: a
 * stack that took a backup and a drill and serves requests without errors. No 4xx or 5xx
 * series exist, so the ratio and status-class queries must still answer (with 0).
 */
const HEALTHY_SERIES: [string, string][] = [
    ...["prometheus", "alertmanager", "node", "postgres", "byte-runner", "caddy", "blackbox"].map((job): [string, string] => [`up{job="${job}",instance="${job}:1"}`, "1x300"]),
    ['up{job="blackbox-http",instance="https://api.example.com/health"}', "1x300"],
    ['ALERTS{alertname="Watchdog",alertstate="firing",severity="none"}', "1x300"],
    ['node_cpu_seconds_total{job="node",cpu="0",mode="idle"}', "0+12x300"],
    ['node_cpu_seconds_total{job="node",cpu="0",mode="user"}', "0+3x300"],
    ['node_memory_MemAvailable_bytes{job="node"}', "2e9x300"],
    ['node_memory_MemTotal_bytes{job="node"}', "4e9x300"],
    ['node_pressure_memory_waiting_seconds_total{job="node"}', "0+0.01x300"],
    ['node_filesystem_avail_bytes{job="node",device="/dev/vda1",fstype="ext4",mountpoint="/"}', "3e10x300"],
    ['node_filesystem_size_bytes{job="node",device="/dev/vda1",fstype="ext4",mountpoint="/"}', "5e10x300"],
    ['node_vmstat_oom_kill{job="node"}', "0x300"],
    ["threshold:disk_used_ratio", "0.8x300"],
    ["threshold:api_p95_seconds", "1x300"],
    ["threshold:pooler_wait_seconds", "5x300"],
    ["threshold:backup_max_age_seconds", "93600x300"],
    ["threshold:drill_max_age_seconds", "691200x300"],
    ...["postgres", "pgbouncer", "backend", "caddy", "backup"].flatMap((name): [string, string][] => [
        [`byte_runner_container_running{job="byte-runner",name="${name}"}`, "1x300"],
        [`byte_runner_container_healthy{job="byte-runner",name="${name}"}`, "1x300"],
        [`byte_runner_container_restarts_total{job="byte-runner",name="${name}"}`, "0x300"],
        [`byte_runner_container_oom_killed{job="byte-runner",name="${name}"}`, "0x300"],
    ]),
    ...["api", "frontend"].flatMap((site): [string, string][] => {
        const labels = `job="caddy",site="${site}",server="srv0",handler="subroute",method="GET",code="200"`;
        return [
            [`caddy_http_request_duration_seconds_count{${labels}}`, "0+5x300"],
            [`caddy_http_request_duration_seconds_bucket{${labels},le="0.1"}`, "0+4x300"],
            [`caddy_http_request_duration_seconds_bucket{${labels},le="0.5"}`, "0+5x300"],
            [`caddy_http_request_duration_seconds_bucket{${labels},le="+Inf"}`, "0+5x300"],
            [`caddy_http_requests_in_flight{job="caddy",site="${site}",server="srv0",handler="subroute"}`, "0x300"],
        ];
    }),
    ...["https://api.example.com/health", "https://example.com/"].flatMap((url): [string, string][] => [
        [`probe_success{job="blackbox-http",instance="${url}"}`, "1x300"],
        [`probe_duration_seconds{job="blackbox-http",instance="${url}"}`, "0.05x300"],
        [`probe_http_status_code{job="blackbox-http",instance="${url}"}`, "200x300"],
        [`probe_ssl_earliest_cert_expiry{job="blackbox-http",instance="${url}"}`, "7776000x300"],
    ]),
    ['pg_up{job="postgres"}', "1x300"],
    ['pg_settings_max_connections{job="postgres",server="postgres:5432"}', "100x300"],
    ['pg_stat_activity_count{job="postgres",datname="app",state="active"}', "2x300"],
    ['pg_stat_activity_count{job="postgres",datname="app",state="idle"}', "5x300"],
    ['pg_stat_activity_max_tx_duration{job="postgres",datname="app",state="active"}', "0.1x300"],
    ['pg_stat_archiver_archived_count{job="postgres"}', "0+0.1x300"],
    ['pg_stat_archiver_failed_count{job="postgres"}', "0x300"],
    ['pg_stat_archiver_last_archive_age{job="postgres"}', "30x300"],
    ['pg_stat_database_xact_commit{job="postgres",datid="16384",datname="app"}', "0+20x300"],
    ['pg_stat_database_xact_rollback{job="postgres",datid="16384",datname="app"}', "0x300"],
    ['pg_stat_database_blks_hit{job="postgres",datid="16384",datname="app"}', "0+1000x300"],
    ['pg_stat_database_blks_read{job="postgres",datid="16384",datname="app"}', "0+10x300"],
    ['pg_stat_database_deadlocks{job="postgres",datid="16384",datname="app"}', "0x300"],
    ['pg_locks_count{job="postgres",datname="app",mode="accesssharelock"}', "3x300"],
    ['pg_database_size_bytes{job="postgres",datname="app"}', "1e8x300"],
    ...["seconds", "calls", "rows"].map((column): [string, string] => [`pg_stat_statements_top_${column}{job="postgres",queryid="1",datname="app",statement="SELECT 1"}`, "0+1x300"]),
    ['byte_runner_pgbouncer_up{job="byte-runner"}', "1x300"],
    ...["clients_active", "clients_waiting", "servers_active", "servers_idle", "max_wait_seconds"].map((m): [string, string] => [`byte_runner_pgbouncer_${m}{job="byte-runner",database="app",user="app"}`, "1x300"]),
    ...["queries_total", "transactions_total", "wait_seconds_total"].map((m): [string, string] => [`byte_runner_pgbouncer_${m}{job="byte-runner",database="app"}`, "0+10x300"]),
    ['byte_runner_pgbouncer_pool_size{job="byte-runner",database="app"}', "10x300"],
    ['byte_runner_pgbouncer_max_client_connections{job="byte-runner"}', "200x300"],
    ...["repo1", "repo2"].flatMap((repo): [string, string][] => [
        [`byte_runner_backup_last_status{job="node",repo="${repo}",type="full"}`, "1x300"],
        [`byte_runner_backup_last_run_timestamp_seconds{job="node",repo="${repo}",type="full"}`, "3000x300"],
        [`byte_runner_backup_last_duration_seconds{job="node",repo="${repo}",type="full"}`, "60x300"],
        [`byte_runner_backup_newest_stop_timestamp_seconds{job="node",repo="${repo}"}`, "3000x300"],
    ]),
    ['byte_runner_restore_drill_last_status{job="node"}', "1x300"],
    ['byte_runner_restore_drill_last_run_timestamp_seconds{job="node"}', "3500x300"],
    ['byte_runner_restore_drill_duration_seconds{job="node"}', "120x300"],
    ['byte_runner_restore_drill_last_success_timestamp_seconds{job="node"}', "3500x300"],
];

// ------------------------------------------------------------------------------------------ tests

describe("Grafana dashboards", () => {
    it("are the four dashboards, each in Grafana 11.3's model with a stable uid, no id, the last 6 h refreshed every minute", () => {
        assert.deepEqual(
            parsed.map((d) => d.file),
            EXPECTED,
        );
        for (const { file, dashboard } of parsed) {
            assert.equal(dashboard.schemaVersion, 39, file);
            assert.match(dashboard.uid, /^[a-z0-9-]{1,40}$/, `${file}: uid`);
            assert.ok(!("id" in dashboard), `${file}: an id would clash with the one Grafana assigns`);
            assert.deepEqual(dashboard.time, { from: "now-6h", to: "now" }, file);
            assert.equal(dashboard.refresh, "1m", file);
            assert.equal(dashboard.editable, false, `${file}: provisioned read-only`);
            assert.ok(typeof dashboard.title === "string" && dashboard.title.length > 0, file);
            const variables = (dashboard.templating as { list: { type: string }[] } | undefined)?.list ?? [];
            for (const v of variables) assert.equal(v.type, "constant", `${file}: template variable of type ${v.type}`);
        }
    });

    it("have unique uids and titles", () => {
        for (const key of ["uid", "title"] as const) {
            const values = parsed.map((d) => d.dashboard[key]);
            assert.equal(new Set(values).size, values.length, `duplicate ${key}: ${values.join(", ")}`);
        }
    });

    it("lay every panel out inside 24 columns, none overlapping another, with unique ids and titles", () => {
        for (const { file, dashboard } of parsed) {
            const all: DashboardPanel[] = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
            assert.ok(dataPanels(dashboard).length > 0, `${file}: no panels`);
            for (const p of all) {
                assert.ok(typeof p.type === "string" && p.type.length > 0, `${file}: panel ${p.id} has no type`);
                assert.ok(typeof p.title === "string" && p.title.length > 0, `${file}: panel ${p.id} has no title`);
                const g = p.gridPos;
                assert.ok(g && [g.x, g.y, g.w, g.h].every((n) => Number.isInteger(n)), `${file} "${p.title}": gridPos ${JSON.stringify(g)}`);
                assert.ok(g.x >= 0 && g.y >= 0 && g.w >= 1 && g.h >= 1 && g.x + g.w <= GRID_COLUMNS, `${file} "${p.title}": gridPos ${JSON.stringify(g)} outside the grid`);
            }
            for (const [i, a] of all.entries()) {
                for (const b of all.slice(i + 1)) {
                    const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w && a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
                    assert.ok(!overlap, `${file}: "${a.title}" ${JSON.stringify(a.gridPos)} overlaps "${b.title}" ${JSON.stringify(b.gridPos)}`);
                }
            }
            const ids = all.map((p) => p.id);
            assert.equal(new Set(ids).size, ids.length, `${file}: duplicate panel ids`);
            const titles = all.map((p) => p.title);
            assert.deepEqual(
                titles.filter((t, i) => titles.indexOf(t) !== i),
                [],
                `${file}: duplicate panel titles`,
            );
        }
    });

    it("query the provisioned Prometheus from every panel, each target with its own refId and a PromQL expr", () => {
        for (const { file, dashboard } of parsed) {
            for (const p of dataPanels(dashboard)) {
                const where = `${file} "${p.title}"`;
                assert.deepEqual(p.datasource, { type: "prometheus", uid: DATASOURCE_UID }, `${where}: datasource`);
                assert.ok(p.targets && p.targets.length > 0, `${where}: no targets`);
                const refIds = p.targets.map((t) => t.refId);
                assert.equal(new Set(refIds).size, refIds.length, `${where}: duplicate refIds ${refIds.join(",")}`);
                for (const t of p.targets) {
                    assert.match(t.refId ?? "", /^[A-Z]+$/, `${where}: refId`);
                    assert.ok(typeof t.expr === "string" && t.expr.trim().length > 0, `${where} ${t.refId}: empty expr`);
                    if (t.datasource) assert.deepEqual(t.datasource, { type: "prometheus", uid: DATASOURCE_UID }, `${where} ${t.refId}: datasource`);
                }
            }
            for (const row of dashboard.panels.filter((p) => p.type === "row")) assert.equal(row.targets, undefined, `${file} row "${row.title}" has targets`);
        }
    });

    it("use no Grafana variable or macro, so each query runs as written against Prometheus", () => {
        for (const q of dashboardQueries()) assert.ok(!q.expr.includes("$"), `${q.dashboard} "${q.panel}" ${q.refId}: ${q.expr}`);
        for (const { file, dashboard } of parsed) {
            for (const p of dataPanels(dashboard)) for (const t of p.targets ?? []) assert.ok(!(t.legendFormat ?? "").includes("$"), `${file} "${p.title}" ${t.refId}: legend ${t.legendFormat}`);
        }
    });

    it("read only metrics of the monitoring contract", () => {
        assert.deepEqual(metricNames('sum by (site) (rate(caddy_x_count{code=~"5..",site="a b"}[5m] offset 1h)) or on() vector(0) * 2e3'), ["caddy_x_count"]);
        assert.deepEqual(metricNames("histogram_quantile(0.95, sum by (le) (rate(b_bucket[5m]))) > on() group_left() threshold:x"), ["b_bucket", "threshold:x"]);
        const used = new Set<string>();
        for (const q of dashboardQueries()) {
            const names = metricNames(q.expr);
            assert.ok(names.length > 0, `${q.dashboard} "${q.panel}" ${q.refId} reads no metric: ${q.expr}`);
            for (const name of names) {
                used.add(name);
                assert.ok(METRIC_NAMES.includes(name) || METRIC_PREFIXES.some((p) => name.startsWith(p)), `${q.dashboard} "${q.panel}" ${q.refId}: ${name} is not a metric of the contract`);
            }
        }
        for (const expected of ["up", "ALERTS", "pg_up", "byte_runner_pgbouncer_up", "caddy_http_request_duration_seconds_bucket", "probe_success", "byte_runner_backup_newest_stop_timestamp_seconds"]) {
            assert.ok(used.has(expected), `no panel reads ${expected}`);
        }
    });

    it("list every panel target in dashboardQueries(), for the end-to-end suite", () => {
        const targets = parsed.flatMap(({ dashboard }) => dataPanels(dashboard).flatMap((p) => p.targets ?? []));
        assert.equal(dashboardQueries().length, targets.length);
        assert.deepEqual([...new Set(dashboardQueries().map((q) => q.dashboard))].sort(), ["api", "backups", "overview", "postgres"]);
    });

    it("are valid PromQL for promtool (Prometheus 2.42)", { skip: allowedSkip(promtoolMissing) }, () => {
        const rules = stringify({ groups: [{ name: "dashboards", rules: queries.map((q) => ({ record: `dashboard:${q.rule}`, expr: q.expr })) }] });
        const r = runPromtool(["check", "rules", "dashboards.yml"], { "dashboards.yml": rules });
        const named = [...r.output.matchAll(/dashboard:(dashboard_query_\d+)/g)].map((m) => describeQuery(m[1]!));
        assert.equal(r.status, 0, `promtool check rules:\n${r.output}\n${named.join("\n")}`);
        assert.match(r.output, new RegExp(`SUCCESS: ${queries.length} rules found`));
    });

    it("answer every query on the series of a healthy stack that has a backup and a drill (promtool test rules)", { skip: allowedSkip(promtoolMissing) }, () => {
        // Each query becomes an alert on absent(query): it fires exactly when the query is empty.
        const rules = stringify({ groups: [{ name: "dashboards", rules: queries.map((q) => ({ alert: q.rule, expr: `absent(${q.expr})` })) }] });
        const test = stringify({
            rule_files: ["dashboards.yml"],
            evaluation_interval: "15s",
            tests: [
                {
                    interval: "15s",
                    input_series: HEALTHY_SERIES.map(([series, values]) => ({ series, values })),
                    alert_rule_test: queries.map((q) => ({ eval_time: "70m", alertname: q.rule, exp_alerts: [] })),
                },
            ],
        });
        const r = runPromtool(["test", "rules", "test.yml"], { "dashboards.yml": rules, "test.yml": test });
        const empty = [...new Set([...r.output.matchAll(/alertname: (dashboard_query_\d+)/g)].map((m) => m[1]!))].map(describeQuery);
        assert.equal(r.status, 0, `${empty.length ? `queries without data on a healthy stack:\n${empty.join("\n")}\n\n` : ""}promtool test rules:\n${r.output}`);
    });
});

describe("Grafana provisioning", () => {
    const files = new Map(grafanaProvisioning().map((f) => [f.file, f.content]));

    it("places the datasource, the dashboard provider and each dashboard where Grafana reads them", () => {
        assert.deepEqual(
            [...files.keys()],
            [GRAFANA_DATASOURCES_FILE, GRAFANA_DASHBOARD_PROVIDERS_FILE, ...EXPECTED.map((f) => `${GRAFANA_DASHBOARDS_PATH}/${f}`)],
        );
        assert.equal(GRAFANA_DATASOURCES_FILE, "/etc/grafana/provisioning/datasources/byte-runner.yml");
        assert.equal(GRAFANA_DASHBOARD_PROVIDERS_FILE, "/etc/grafana/provisioning/dashboards/byte-runner.yml");
    });

    it("provisions the stack's Prometheus as the default datasource under the uid the panels name", () => {
        const doc = parseYaml(files.get(GRAFANA_DATASOURCES_FILE)!) as { apiVersion: number; datasources: Record<string, unknown>[] };
        assert.equal(doc.apiVersion, 1);
        assert.equal(doc.datasources.length, 1);
        assert.deepEqual(
            { ...doc.datasources[0], jsonData: undefined },
            { name: "Prometheus", type: "prometheus", uid: DATASOURCE_UID, access: "proxy", url: "http://prometheus:9090", isDefault: true, editable: false, jsonData: undefined },
        );
    });

    it("loads the dashboards read-only from the directory they are placed in, into the byte-runner folder", () => {
        const doc = parseYaml(files.get(GRAFANA_DASHBOARD_PROVIDERS_FILE)!) as { apiVersion: number; providers: Record<string, unknown>[] };
        assert.equal(doc.apiVersion, 1);
        assert.equal(doc.providers.length, 1);
        const provider = doc.providers[0]!;
        assert.equal(provider.type, "file");
        assert.equal(provider.folder, "byte-runner");
        assert.equal(provider.allowUiUpdates, false);
        assert.deepEqual(provider.options, { path: GRAFANA_DASHBOARDS_PATH, foldersFromFilesStructure: false });
    });
});
