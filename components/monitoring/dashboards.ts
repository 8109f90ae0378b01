// Grafana as code: the dashboards (JSON in ./dashboards, Grafana 11.3's model) and the
// provisioning files (./grafana) that make Grafana load them and its one datasource at start.
// The JSON files are the source: edit them (or export from Grafana) and commit; nothing
// here rewrites them, so what is reviewed is what Grafana shows.
import * as fs from "node:fs";
import * as path from "node:path";

/** The committed dashboards and provisioning files in this repository. */
export const DASHBOARDS_DIR = path.join(__dirname, "dashboards");
export const GRAFANA_DIR = path.join(__dirname, "grafana");

/** Where the files go in Grafana's container (grafana/dashboards.yml reads GRAFANA_DASHBOARDS_PATH). */
export const GRAFANA_DASHBOARDS_PATH = "/etc/grafana/dashboards";
export const GRAFANA_DATASOURCES_FILE = "/etc/grafana/provisioning/datasources/byte-runner.yml";
export const GRAFANA_DASHBOARD_PROVIDERS_FILE = "/etc/grafana/provisioning/dashboards/byte-runner.yml";

/** The uid every panel names its datasource by; grafana/datasources.yml provisions it. */
export const DATASOURCE_UID = "prometheus";

/** The part of Grafana's dashboard model the checks and the end-to-end suite read. */
export interface DashboardTarget {
    refId: string;
    expr: string;
    datasource?: { type?: string; uid?: string };
    legendFormat?: string;
    instant?: boolean;
    range?: boolean;
    format?: string;
}
export interface DashboardPanel {
    id: number;
    type: string;
    title: string;
    gridPos: { x: number; y: number; w: number; h: number };
    datasource?: { type?: string; uid?: string };
    targets?: DashboardTarget[];
    /** Only rows hold panels (when collapsed). */
    panels?: DashboardPanel[];
}
export interface Dashboard {
    uid: string;
    title: string;
    schemaVersion: number;
    panels: DashboardPanel[];
    [key: string]: unknown;
}

/** The dashboard files, by name (overview.json, ...), as committed. */
export function dashboards(): { file: string; json: string }[] {
    return fs
        .readdirSync(DASHBOARDS_DIR)
        .filter((file) => file.endsWith(".json"))
        .sort()
        .map((file) => ({ file, json: fs.readFileSync(path.join(DASHBOARDS_DIR, file), "utf8") }));
}

/** Every file Grafana needs, at its path in Grafana's container: the datasource, the dashboard provider, the dashboards. */
export function grafanaProvisioning(): { file: string; content: string }[] {
    const read = (file: string) => fs.readFileSync(path.join(GRAFANA_DIR, file), "utf8");
    return [
        { file: GRAFANA_DATASOURCES_FILE, content: read("datasources.yml") },
        { file: GRAFANA_DASHBOARD_PROVIDERS_FILE, content: read("dashboards.yml") },
        ...dashboards().map((d) => ({ file: `${GRAFANA_DASHBOARDS_PATH}/${d.file}`, content: d.json })),
    ];
}

/** The panels of a dashboard, rows' nested panels included, rows themselves not (they query nothing). */
export function dataPanels(dashboard: Dashboard): DashboardPanel[] {
    return dashboard.panels.flatMap((p) => (p.type === "row" ? (p.panels ?? []) : [p]));
}

/**
 * Every panel target's PromQL, named by dashboard (its file name without .json), panel title
 * and refId: the end-to-end suite runs each against the live Prometheus and wants data.
 */
export function dashboardQueries(): { dashboard: string; panel: string; refId: string; expr: string }[] {
    return dashboards().flatMap(({ file, json }) =>
        dataPanels(JSON.parse(json) as Dashboard).flatMap((panel) =>
            (panel.targets ?? []).map((target) => ({ dashboard: file.replace(/\.json$/, ""), panel: panel.title, refId: target.refId, expr: target.expr })),
        ),
    );
}
