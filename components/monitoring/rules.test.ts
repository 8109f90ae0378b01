// The alert rules as Prometheus loads them: every file accepted by a real promtool, every
// alert unit-tested by `promtool test rules` (tests in rules/tests/, one file per area) with
// a case where it fires and one where it stays quiet, and the rendered thresholds.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import * as YAML from "yaml";
import { allowedSkip, missingError } from "../../tests/skip";
import { type AlertThresholds, areaRuleFiles, durationSeconds, RULES_DIR, ruleFiles, THRESHOLDS_FILE, thresholdRules } from "./thresholds";

/** The thresholds the promtool tests are written against (their headers repeat them). */
const TEST_THRESHOLDS: AlertThresholds = {
    apiP95Seconds: 0.5,
    poolerWaitSeconds: 5,
    diskUsedRatio: 0.8,
    backupMaxAgeSeconds: 3 * 3600,
    drillMaxAgeSeconds: 6 * 3600,
};

const TESTS_DIR = path.join(RULES_DIR, "tests");
const testFiles = fs
    .readdirSync(TESTS_DIR)
    .filter((name) => name.endsWith(".test.yml"))
    .sort();

interface AlertRule {
    alert: string;
    expr: string;
    for?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

/** Every alerting rule of the area files, with the file it is in. */
function alertRules(): (AlertRule & { file: string })[] {
    return areaRuleFiles().flatMap((file) =>
        (YAML.parse(file.content) as { groups: { rules: (AlertRule | { record: string })[] }[] }).groups.flatMap((group) =>
            group.rules.filter((rule): rule is AlertRule => "alert" in rule).map((rule) => ({ ...rule, file: file.name })),
        ),
    );
}

interface UnitTestFile {
    rule_files: string[];
    tests: { name?: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

function readTestFile(name: string): UnitTestFile {
    return YAML.parse(fs.readFileSync(path.join(TESTS_DIR, name), "utf8")) as UnitTestFile;
}

/** promtool's exit status and everything it printed (asynchronous: the test files run side by side). */
function promtool(args: string[], cwd: string): Promise<{ status: number | null; output: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn("promtool", args, { cwd, timeout: 120_000 });
        let output = "";
        child.stdout.on("data", (chunk) => (output += chunk));
        child.stderr.on("data", (chunk) => (output += chunk));
        child.on("error", reject);
        child.on("close", (status) => resolve({ status, output }));
    });
}

function missingPromtool(): string | undefined {
    const result = spawnSync("promtool", ["--version"], { encoding: "utf8" });
    return result.error || result.status !== 0 ? "promtool is not installed (apt-get install prometheus; tools/install-deps.sh installs it)" : undefined;
}

describe("alert rules under a real promtool", { skip: allowedSkip(missingPromtool()), concurrency: true }, () => {
    let dir: string;

    /** Writes rule files as Prometheus would load them, and the unit tests beside them in tests/. */
    function stage(files: { name: string; content: string }[], into: string): void {
        fs.mkdirSync(path.join(into, "tests"), { recursive: true });
        for (const file of files) fs.writeFileSync(path.join(into, file.name), file.content);
        for (const name of testFiles) fs.copyFileSync(path.join(TESTS_DIR, name), path.join(into, "tests", name));
    }

    before(() => {
        const missing = missingPromtool();
        if (missing) throw missingError(`the alert rule tests cannot run: ${missing}`);
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "alert-rules-"));
        stage(ruleFiles(TEST_THRESHOLDS), dir);
    });
    after(() => dir && fs.rmSync(dir, { recursive: true, force: true }));

    it("accepts every rule file, the rendered thresholds included (promtool check rules)", async () => {
        const names = ruleFiles(TEST_THRESHOLDS).map((file) => file.name);
        assert.ok(names.length >= 10, `expected the thresholds and nine area files, got ${names.join(", ")}`);
        const result = await promtool(["check", "rules", ...names], dir);
        assert.equal(result.status, 0, result.output);
    });

    for (const name of testFiles) {
        it(`passes tests/${name} (promtool test rules)`, async () => {
            const result = await promtool(["test", "rules", path.join("tests", name)], dir);
            assert.equal(result.status, 0, result.output);
            assert.match(result.output, /SUCCESS/);
        });
    }

    it("accepts the rule files with every for: capped for the local stack", async () => {
        const capped = fs.mkdtempSync(path.join(os.tmpdir(), "alert-rules-capped-"));
        try {
            const files = ruleFiles(TEST_THRESHOLDS, { maxForSeconds: 30 });
            for (const file of files) fs.writeFileSync(path.join(capped, file.name), file.content);
            const result = await promtool(["check", "rules", ...files.map((file) => file.name)], capped);
            assert.equal(result.status, 0, result.output);
        } finally {
            fs.rmSync(capped, { recursive: true, force: true });
        }
    });
});

describe("alert rule files", () => {
    const rules = alertRules();

    it("hold the alerts the issue asks for", () => {
        const names = rules.map((rule) => rule.alert);
        for (const required of [
            "TargetDown",
            "ContainerUnhealthy",
            "ContainerRestarting",
            "ContainerStopped",
            "HostDiskSpaceLow",
            "HostDiskFillingUp",
            "HostMemoryPressure",
            "HostOomKill",
            "ContainerOomKilled",
            "PostgresDown",
            "PostgresConnectionsHigh",
            "PgBouncerClientsWaiting",
            "ApiErrorRateHigh",
            "ApiLatencyHigh",
            "TlsCertificateExpiring",
            "BackupTooOld",
            "RestoreDrillFailed",
            "RestoreDrillOverdue",
            "RestoreDrillNeverRan",
            "WalArchivingFailing",
            "Watchdog",
        ]) {
            assert.ok(names.includes(required), `no alert ${required}`);
        }
        assert.equal(new Set(names).size, names.length, `an alert name is used twice: ${names.join(", ")}`);
    });

    it("give every alert a severity, a summary, a description and its runbook section", () => {
        for (const rule of rules) {
            const where = `${rule.alert} (${rule.file})`;
            const severities = rule.alert === "Watchdog" ? ["none"] : ["critical", "warning"];
            assert.ok(severities.includes(rule.labels?.severity ?? ""), `${where}: severity must be ${severities.join(" or ")}, got ${rule.labels?.severity}`);
            assert.ok(rule.annotations?.summary, `${where}: no summary`);
            assert.ok(rule.annotations?.description, `${where}: no description`);
            assert.equal(rule.annotations?.runbook, `INFRASTRUCTURE.md#${rule.alert.toLowerCase()}`, `${where}: runbook`);
            if (rule.for !== undefined) durationSeconds(rule.for);
        }
    });

    it("each have their test file, loading the rendered thresholds and their own rules", () => {
        for (const file of areaRuleFiles()) {
            const testName = file.name.replace(/\.yml$/, ".test.yml");
            assert.ok(testFiles.includes(testName), `rules/${file.name} has no tests/${testName}`);
            assert.deepEqual(readTestFile(testName).rule_files, [`../${THRESHOLDS_FILE}`, `../${file.name}`], `tests/${testName}: rule_files`);
        }
        for (const name of testFiles) {
            for (const ruleFile of readTestFile(name).rule_files) {
                const target = path.basename(ruleFile);
                assert.ok(ruleFile === `../${target}` && (target === THRESHOLDS_FILE || fs.existsSync(path.join(RULES_DIR, target))), `tests/${name} loads ${ruleFile}, which is not a rule file`);
            }
        }
    });

    it("test every alert both firing and quiet (the Watchdog only fires)", () => {
        const firing = new Set<string>();
        const quiet = new Set<string>();
        for (const name of testFiles) {
            for (const test of readTestFile(name).tests) {
                for (const check of test.alert_rule_test ?? []) (check.exp_alerts?.length ? firing : quiet).add(check.alertname);
            }
        }
        const known = new Set(rules.map((rule) => rule.alert));
        for (const tested of [...firing, ...quiet]) assert.ok(known.has(tested), `a test checks ${tested}, which no rule file defines`);
        for (const rule of rules) {
            assert.ok(firing.has(rule.alert), `${rule.alert} (${rule.file}) has no test where it fires`);
            if (rule.alert !== "Watchdog") assert.ok(quiet.has(rule.alert), `${rule.alert} (${rule.file}) has no test where it stays quiet`);
        }
    });
});

describe("thresholdRules", () => {
    it("renders one recording rule without labels per threshold, in group thresholds", () => {
        assert.deepEqual(YAML.parse(thresholdRules(TEST_THRESHOLDS)), {
            groups: [
                {
                    name: "thresholds",
                    rules: [
                        { record: "threshold:api_p95_seconds", expr: "vector(0.5)" },
                        { record: "threshold:pooler_wait_seconds", expr: "vector(5)" },
                        { record: "threshold:disk_used_ratio", expr: "vector(0.8)" },
                        { record: "threshold:backup_max_age_seconds", expr: "vector(10800)" },
                        { record: "threshold:drill_max_age_seconds", expr: "vector(21600)" },
                    ],
                },
            ],
        });
    });

    it("covers every threshold the rule files compare against", () => {
        const rendered = new Set([...thresholdRules(TEST_THRESHOLDS).matchAll(/record: (threshold:\w+)/g)].map((match) => match[1]));
        for (const rule of alertRules()) {
            for (const [used] of rule.expr.matchAll(/threshold:\w+/g)) assert.ok(rendered.has(used), `${rule.alert} compares against ${used}, which thresholdRules does not render`);
        }
    });

    it("refuses values that cannot be thresholds, naming the field", () => {
        assert.throws(() => thresholdRules({ ...TEST_THRESHOLDS, apiP95Seconds: 0 }), { message: "alert threshold apiP95Seconds must be a positive number, got 0" });
        assert.throws(() => thresholdRules({ ...TEST_THRESHOLDS, poolerWaitSeconds: Number.NaN }), { message: "alert threshold poolerWaitSeconds must be a positive number, got NaN" });
        assert.throws(() => thresholdRules({ ...TEST_THRESHOLDS, diskUsedRatio: 80 }), { message: "alert threshold diskUsedRatio must be at most 1 (a share of the disk), got 80" });
    });
});

describe("ruleFiles", () => {
    it("puts the rendered thresholds first, then every area file as it is in the repository", () => {
        const files = ruleFiles(TEST_THRESHOLDS);
        assert.deepEqual(files[0], { name: THRESHOLDS_FILE, content: thresholdRules(TEST_THRESHOLDS) });
        assert.deepEqual(files.slice(1), areaRuleFiles());
    });

    it("caps every longer for: at maxForSeconds and leaves shorter ones", () => {
        const before = alertRules();
        const capped = ruleFiles(TEST_THRESHOLDS, { maxForSeconds: 120 })
            .slice(1)
            .flatMap((file) => (YAML.parse(file.content) as { groups: { rules: AlertRule[] }[] }).groups.flatMap((group) => group.rules))
            .filter((rule) => "alert" in rule);
        assert.equal(capped.length, before.length);
        for (const [index, rule] of capped.entries()) {
            const original = before[index].for;
            if (original === undefined) assert.equal(rule.for, undefined, rule.alert);
            else assert.equal(rule.for, durationSeconds(original) > 120 ? "120s" : original, rule.alert);
        }
        assert.ok(
            before.some((rule) => rule.for && durationSeconds(rule.for) > 120),
            "no for: longer than the cap: the test proves nothing",
        );
    });

    it("reads Prometheus durations", () => {
        assert.equal(durationSeconds("90s"), 90);
        assert.equal(durationSeconds("1h30m"), 5400);
        assert.throws(() => durationSeconds("5 minutes"), { message: 'not a Prometheus duration: "5 minutes"' });
    });
});
