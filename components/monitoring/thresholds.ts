// The alert rules Prometheus loads: the area files in rules/ (the same for every stack)
// and the thresholds that differ by stack, rendered from config as recording rules
// without labels. Alerts compare with `> on() group_left() threshold:<name>`, so a
// threshold changes by reloading one small file, and the area files need no templating.
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

/** The values alerts compare against; each becomes the recording rule `threshold:<snake_case name>`. */
export interface AlertThresholds {
    /** API p95 latency (seconds) above which ApiLatencyHigh fires. */
    apiP95Seconds: number;
    /** How long (seconds) the oldest client of a PgBouncer pool may wait before PgBouncerClientsWaiting fires. */
    poolerWaitSeconds: number;
    /** Used share of a filesystem (0 < ratio <= 1) above which HostDiskSpaceLow fires; 0.8 is the 80 %. */
    diskUsedRatio: number;
    /** Age (seconds) of a repository's newest backup above which BackupTooOld fires: the longest gap between scheduled backups plus a slack for a slow run. */
    backupMaxAgeSeconds: number;
    /** Age (seconds) of the last restore drill above which RestoreDrillOverdue fires (and how long the scheduler may run before a first drill: RestoreDrillNeverRan): the drill interval plus a slack. */
    drillMaxAgeSeconds: number;
}

/** The recording rule of each threshold, as the rule files name them. */
export const THRESHOLD_RECORDS: Record<keyof AlertThresholds, string> = {
    apiP95Seconds: "threshold:api_p95_seconds",
    poolerWaitSeconds: "threshold:pooler_wait_seconds",
    diskUsedRatio: "threshold:disk_used_ratio",
    backupMaxAgeSeconds: "threshold:backup_max_age_seconds",
    drillMaxAgeSeconds: "threshold:drill_max_age_seconds",
};

/** The directory of the area rule files (`<area>.yml`) and their promtool tests (`tests/<area>.test.yml`). */
export const RULES_DIR = path.join(__dirname, "rules");

/** The name of the rendered thresholds file among the rule files. */
export const THRESHOLDS_FILE = "thresholds.yml";

/**
 * The recording rules of the thresholds: group "thresholds", one `threshold:*` record per
 * value, with no labels. Throws on a value that is not a positive finite number (and a
 * disk ratio above 1), naming the field.
 */
export function thresholdRules(thresholds: AlertThresholds): string {
    const rules = (Object.keys(THRESHOLD_RECORDS) as (keyof AlertThresholds)[]).map((field) => {
        const value = thresholds[field];
        if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
            throw new Error(`alert threshold ${field} must be a positive number, got ${String(value)}`);
        }
        if (field === "diskUsedRatio" && value > 1) throw new Error(`alert threshold diskUsedRatio must be at most 1 (a share of the disk), got ${value}`);
        return { record: THRESHOLD_RECORDS[field], expr: `vector(${value})` };
    });
    return `# Rendered by components/monitoring/thresholds.ts from the stack's config.\n${YAML.stringify({ groups: [{ name: "thresholds", rules }] })}`;
}

/** One rule file as Prometheus loads it. */
export interface RuleFile {
    /** File name, e.g. `postgres.yml`. */
    name: string;
    content: string;
}

/** Options of ruleFiles. */
export interface RuleFileOptions {
    /**
     * Caps every alert's `for:` at this many seconds (the local stack, whose faults must
     * alert within minutes). Default: none, the production durations of the rule files.
     */
    maxForSeconds?: number;
}

/** The area rule files in rules/ (`*.yml`), sorted by name, as they are in the repository. */
export function areaRuleFiles(): RuleFile[] {
    return fs
        .readdirSync(RULES_DIR)
        .filter((name) => name.endsWith(".yml"))
        .sort()
        .map((name) => ({ name, content: fs.readFileSync(path.join(RULES_DIR, name), "utf8") }));
}

/**
 * Every rule file Prometheus loads: the rendered thresholds first, then the area files,
 * with `for:` capped when asked.
 */
export function ruleFiles(thresholds: AlertThresholds, options: RuleFileOptions = {}): RuleFile[] {
    const areas = areaRuleFiles();
    if (areas.some((file) => file.name === THRESHOLDS_FILE)) throw new Error(`${path.join(RULES_DIR, THRESHOLDS_FILE)} would be hidden by the rendered thresholds; rename it`);
    const cap = options.maxForSeconds;
    return [
        { name: THRESHOLDS_FILE, content: thresholdRules(thresholds) },
        ...areas.map((file) => (cap === undefined ? file : { name: file.name, content: capFor(file.content, cap) })),
    ];
}

const DURATION_UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };

/** Seconds of a Prometheus duration such as `5m` or `1h30m`; throws on anything else. */
export function durationSeconds(duration: string): number {
    if (!/^(\d+(ms|s|m|h|d|w|y))+$/.test(duration)) throw new Error(`not a Prometheus duration: ${JSON.stringify(duration)}`);
    let seconds = 0;
    for (const [, amount, unit] of duration.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) seconds += Number(amount) * DURATION_UNITS[unit];
    return seconds;
}

/** A rule file with every `for:` longer than `maxSeconds` shortened to it (comments kept). */
function capFor(content: string, maxSeconds: number): string {
    if (!Number.isInteger(maxSeconds) || maxSeconds < 1) throw new Error(`maxForSeconds must be a whole number of seconds, at least 1, got ${maxSeconds}`);
    const document = YAML.parseDocument(content);
    const groups = document.get("groups") as YAML.YAMLSeq<YAML.YAMLMap>;
    for (const group of groups.items) {
        for (const rule of (group.get("rules") as YAML.YAMLSeq<YAML.YAMLMap>).items) {
            const duration = rule.get("for");
            if (typeof duration === "string" && durationSeconds(duration) > maxSeconds) rule.set("for", `${maxSeconds}s`);
        }
    }
    return document.toString();
}
