// The daily drift workflow (.github/workflows/drift.yml): that it checks prod every day and
// reports even when the check fails, and its report (tools/drift-report.sh) with a stand-in
// `gh` that records what it is asked and answers like GitHub: drift opens the `drift` issue,
// or comments on the open one; a check that could not run does the same; a clean check
// closes it. actionlint checks the file with the others (preview-workflow.test.ts). The
// check itself needs prod's VPS and state: tests/e2e/local.test.ts proves it on the local stack.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";

const REPO = path.resolve(__dirname, "..", "..");

interface Step {
    id?: string;
    if?: string;
    run?: string;
    env?: Record<string, string>;
}
const workflow = parse(fs.readFileSync(path.join(REPO, ".github", "workflows", "drift.yml"), "utf8")) as {
    on: { schedule?: { cron: string }[] };
    permissions: Record<string, string>;
    jobs: { drift: { env: Record<string, string>; steps: Step[] } };
};

// Answers `gh issue list` with $FAKE_OPEN_ISSUE (or nothing) and records every call, one per line.
const FAKE_GH = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_RECORD/gh.calls"
if [[ "$1 $2" == "issue list" ]]; then [[ -z $FAKE_OPEN_ISSUE ]] || echo "$FAKE_OPEN_ISSUE"; fi
if [[ "$1 $2" == "issue create" ]]; then echo "https://github.com/acme/infra/issues/12"; fi
exit 0
`;

/** How the report asks GitHub for the stack's open drift issue. */
const LIST_CALL = 'issue list --label drift --state open --search "Drift on prod" in:title --json number --jq .[0].number // empty';

const DRIFT_OUTPUT = [
    "drift: stack prod: 2 difference(s) between the VPS and what Pulumi last applied:",
    "  - container byte-runner-prod-frontend: exited, exit code 0 at 2026-12-01T06:00:00Z",
    "  - firewall (firewall-apply): not applied with these settings (table inet byte_runner_firewall is missing)",
].join("\n");

describe("the daily drift workflow", () => {
    let work: string;
    before(() => {
        work = fs.mkdtempSync(path.join(os.tmpdir(), "drift-workflow-"));
        fs.mkdirSync(path.join(work, "bin"));
        fs.writeFileSync(path.join(work, "bin", "gh"), FAKE_GH, { mode: 0o755 });
        fs.writeFileSync(path.join(work, "drift.txt"), DRIFT_OUTPUT);
    });
    after(() => fs.rmSync(work, { recursive: true, force: true }));

    it("checks prod every day and reports whatever the check's outcome", () => {
        assert.match(workflow.on.schedule?.[0]?.cron ?? "", /^\d+ \d+ \* \* \*$/);
        assert.equal(workflow.jobs.drift.env.STACK, "prod");
        assert.equal(workflow.permissions.issues, "write");
        const steps = workflow.jobs.drift.steps;
        const check = steps.find((s) => s.id === "check");
        assert.match(check?.run ?? "", /npm run --silent drift -- "\$STACK" >drift\.txt/);
        // Without it tools/pulumi-env.sh would read a file backend in the clone: no state at all.
        assert.ok(check?.env?.PULUMI_BACKEND_URL, "the check names the team's state backend");
        const report = steps.at(-1)!;
        assert.equal(report.if, "always()", "the report must run when the check fails");
        assert.match(report.run ?? "", /tools\/drift-report\.sh "\$STACK" "\$DRIFT_STATUS" drift\.txt/);
    });

    function report(status: string, openIssue = "") {
        const record = fs.mkdtempSync(path.join(work, "record-"));
        const summary = path.join(record, "summary.md");
        const r = spawnSync("bash", [path.join(REPO, "tools", "drift-report.sh"), "prod", status, path.join(work, "drift.txt")], {
            encoding: "utf8",
            env: { PATH: `${path.join(work, "bin")}:${process.env.PATH ?? ""}`, FAKE_RECORD: record, FAKE_OPEN_ISSUE: openIssue, GITHUB_STEP_SUMMARY: summary, GITHUB_REPOSITORY: "acme/infra", GITHUB_RUN_ID: "42" },
        });
        const read = (file: string) => (fs.existsSync(path.join(record, file)) ? fs.readFileSync(path.join(record, file), "utf8") : "");
        return { ...r, calls: read("gh.calls"), summary: read("summary.md") };
    }

    it("drift opens the drift issue with what drifted and a link to the run, and fails the job", () => {
        const r = report("1");
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.calls, /^issue create --title Drift on prod --label drift --body drift found on prod, \d{4}-\d\d-\d\d \(\[run\]\(https:\/\/github\.com\/acme\/infra\/actions\/runs\/42\)\):/m);
        assert.ok(r.calls.includes("firewall (firewall-apply): not applied"), r.calls);
        assert.match(r.summary, /^## Drift check of prod: drift found$/m);
        assert.ok(r.summary.includes("container byte-runner-prod-frontend: exited"), r.summary);
    });

    it("drift while the issue is open comments on it instead of opening another", () => {
        const r = report("1", "7");
        assert.equal(r.status, 1, r.stderr);
        assert.match(r.calls, /^issue comment 7 --body drift found on prod/m);
        assert.doesNotMatch(r.calls, /issue create/);
    });

    it("a check that could not run is reported the same way, saying so", () => {
        const r = report("4");
        assert.equal(r.status, 4, r.stderr);
        assert.match(r.calls, /^issue create --title Drift on prod --label drift --body the check could not run \(exit 4\) on prod/m);
        const empty = report("");
        assert.equal(empty.status, 1, empty.stderr);
        assert.match(empty.calls, /the check could not run \(exit none\)/);
    });

    it("a clean check closes the open issue, and does nothing when none is open", () => {
        let r = report("0", "7");
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.calls, /^issue close 7 --comment no drift on prod/m);
        r = report("0");
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.calls.trim().split("\n"), [LIST_CALL]);
        assert.match(r.summary, /^## Drift check of prod: no drift$/m);
    });
});
