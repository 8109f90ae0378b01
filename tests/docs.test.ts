// Pulumi.yaml's config section and INFRASTRUCTURE.md's tables are generated from the
// code; this fails when someone changes one without the other (`npm run docs` fixes it).
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { CONFIG_KEYS } from "../config";
import { areaRuleFiles } from "../components/monitoring/thresholds";
import { infrastructureMd, pulumiYaml } from "../tools/gen-docs";
import { REPO } from "../tools/graph";

describe("generated docs", () => {
    it("Pulumi.yaml declares every config key with type, description and default", () => {
        const committed = fs.readFileSync(path.join(REPO, "Pulumi.yaml"), "utf8");
        assert.equal(committed, pulumiYaml(), "Pulumi.yaml is out of date: run `npm run docs`");
        const declared = (parseYaml(committed) as { config: Record<string, { type: string; description: string }> }).config;
        assert.deepEqual(Object.keys(declared), CONFIG_KEYS.map((k) => k.key));
        for (const [key, decl] of Object.entries(declared)) assert.ok(decl.type && decl.description.length > 10, key);
    });

    it("INFRASTRUCTURE.md's tables match the code", async () => {
        const committed = fs.readFileSync(path.join(REPO, "INFRASTRUCTURE.md"), "utf8");
        assert.equal(committed, await infrastructureMd(committed), "INFRASTRUCTURE.md is out of date: run `npm run docs`");
        for (const k of CONFIG_KEYS) assert.ok(committed.includes(`| \`${k.key}\` |`), `${k.key} missing from INFRASTRUCTURE.md`);
    });

    it("has a runbook section for every alert, where each alert's runbook link points", () => {
        const doc = fs.readFileSync(path.join(REPO, "INFRASTRUCTURE.md"), "utf8");
        const headings = new Set([...doc.matchAll(/^#### (\S+)$/gm)].map((m) => m[1]));
        const alerts = areaRuleFiles().flatMap((f) => [...f.content.matchAll(/^\s*- alert: (\S+)$/gm)].map((m) => m[1]));
        assert.ok(alerts.length > 20, `only ${alerts.length} alerts found`);
        assert.deepEqual(alerts.filter((a) => !headings.has(a)), [], "alerts without a `#### <name>` section in INFRASTRUCTURE.md");
    });

    it("names no secret default anywhere", () => {
        for (const k of CONFIG_KEYS.filter((c) => c.secret)) assert.equal(k.default, undefined, k.key);
    });
});
