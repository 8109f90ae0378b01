// prometheus.yml and the rule files as Prometheus reads them: pure functions of the stack's
// settings, so the fast suite checks them with promtool and previews show every change.
import { stringify } from "yaml";

/** Where Prometheus reads its configuration and rules inside its container. */
export const PROMETHEUS_CONFIG_FILE = "/etc/prometheus/prometheus.yml";
export const PROMETHEUS_RULES_DIR = "/etc/prometheus/rules";

/** A scrape job: its `job` label and the one `host:port` it scrapes on the monitoring network. */
export interface ScrapeJob {
    job: string;
    target: string;
    /** Relabelling of scraped series (Caddy's hostnames into `site`). */
    metricRelabel?: Record<string, unknown>[];
}

export interface PrometheusConfigArgs {
    /** The `stack` label every series and alert carries. */
    stack: string;
    scrapeIntervalSeconds: number;
    jobs: ScrapeJob[];
    /** `host:port` of Alertmanager. */
    alertmanager: string;
    /** `host:port` of the blackbox exporter and the URLs it probes (job blackbox-http). */
    blackbox: { exporter: string; module: string; urls: string[] };
}

export function prometheusConfig(a: PrometheusConfigArgs): string {
    const interval = `${a.scrapeIntervalSeconds}s`;
    return stringify({
        global: {
            scrape_interval: interval,
            evaluation_interval: interval,
            // A scrape may take most of an interval on a busy host, never more.
            scrape_timeout: `${Math.max(1, Math.min(10, a.scrapeIntervalSeconds - 1))}s`,
            external_labels: { stack: a.stack },
        },
        rule_files: [`${PROMETHEUS_RULES_DIR}/*.yml`],
        alerting: { alertmanagers: [{ static_configs: [{ targets: [a.alertmanager] }] }] },
        scrape_configs: [
            ...a.jobs.map((j) => ({
                job_name: j.job,
                static_configs: [{ targets: [j.target] }],
                ...(j.metricRelabel ? { metric_relabel_configs: j.metricRelabel } : {}),
            })),
            {
                job_name: "blackbox-http",
                metrics_path: "/probe",
                params: { module: [a.blackbox.module] },
                static_configs: [{ targets: a.blackbox.urls }],
                // The probed URL becomes the `instance`; the exporter is who is asked.
                relabel_configs: [
                    { source_labels: ["__address__"], target_label: "__param_target" },
                    { source_labels: ["__param_target"], target_label: "instance" },
                    { target_label: "__address__", replacement: a.blackbox.exporter },
                ],
            },
        ],
    });
}

/**
 * Caddy labels its request metrics with the Host header (`metrics { per_host }`); rules and
 * dashboards speak of sites instead (`site="api"`), so they hold no hostname of any stack.
 */
export function siteRelabel(sites: Record<string, string>): Record<string, unknown>[] {
    return Object.entries(sites).map(([site, host]) => ({
        source_labels: ["host"],
        regex: host.replaceAll(".", "\\.") + "(:\\d+)?",
        target_label: "site",
        replacement: site,
    }));
}
