// No silent skip: something missing (the Pulumi toolchain, a plugin, a tool) fails the run
// and names it, unless BYTE_RUNNER_ALLOW_SKIP=1 opts in to skipping, which is said loudly.
// Proved on the pieces tools/test.sh is made of: the phases of tools/phases.sh, and the
// end-to-end preview file as tools/test.sh starts it after a failed toolchain build.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { missingForEngine } from "./e2e/pulumi";
import { allowedSkip } from "./skip";

const REPO = path.resolve(__dirname, "..");
const scratch: string[] = [];
after(() => scratch.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })));

/** Runs a bash script that sources tools/phases.sh, with this environment on top of a clean one. */
function harness(body: string, env: Record<string, string> = {}) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "byte-runner-phases-"));
    scratch.push(dir);
    const script = `set -euo pipefail\nsource ${JSON.stringify(path.join(REPO, "tools", "phases.sh"))}\nphases_init test ${JSON.stringify(path.join(dir, "logs"))}\n${body}\n`;
    const r = spawnSync("bash", ["-c", script], { cwd: dir, encoding: "utf8", timeout: 60_000, env: { PATH: process.env.PATH, CI: "true", ...env } });
    return { status: r.status, out: r.stdout + r.stderr, dir };
}

/** A toolchain build that cannot work, as on a machine without Go. */
const FAILING_TOOLCHAIN = `phase_bg --skippable "Pulumi toolchain" bash -c 'echo "[pulumi-toolchain] error: go not found" >&2; exit 1'`;

describe("tools/phases.sh: a missing toolchain fails the run (CI=true)", () => {
    it("names the failed background phase, shows the end of its log and closes with the table", () => {
        const r = harness(`${FAILING_TOOLCHAIN}\nphase "suites"\nphase_wait "Pulumi toolchain"\necho "the end-to-end suite would start"`);
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /background phase Pulumi toolchain: FAILED \(exit 1\); the end of its log/);
        assert.match(r.out, /\| \[pulumi-toolchain\] error: go not found/);
        assert.match(r.out, /FAILED: Pulumi toolchain; see above\. Nothing that needs them can run; set BYTE_RUNNER_ALLOW_SKIP=1 to skip the tests that need them on purpose instead/);
        assert.doesNotMatch(r.out, /would start/);
        assert.match(r.out, /phase times/);
        assert.match(r.out, /FAILED \(exit 1\)\s+Pulumi toolchain \(background\)/);
        assert.match(r.out, /\sok\s+suites$/m, "the foreground phase that was waiting did its part");
        assert.match(r.out, /FAILED \(exit 1\)\s+total/);
    });

    it("goes on only with BYTE_RUNNER_ALLOW_SKIP=1, and says so in the run and under the table", () => {
        const r = harness(`${FAILING_TOOLCHAIN}\nphase_wait "Pulumi toolchain"\nif phase_ok "Pulumi toolchain"; then echo built; else echo "the end-to-end suite starts without the engine"; fi`, { BYTE_RUNNER_ALLOW_SKIP: "1" });
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /the end-to-end suite starts without the engine/);
        assert.match(r.out, /!!!!! SKIPPED because BYTE_RUNNER_ALLOW_SKIP=1: what needs 'Pulumi toolchain'/);
        assert.match(r.out, /!!!!! SKIPPED on purpose \(BYTE_RUNNER_ALLOW_SKIP=1\):\n {2}what needs 'Pulumi toolchain'/);
    });

    it("any other value of the variable is no opt-in", () => {
        const r = harness(`${FAILING_TOOLCHAIN}\nphase_wait "Pulumi toolchain"\necho "went on"`, { BYTE_RUNNER_ALLOW_SKIP: "true" });
        assert.equal(r.status, 1, r.out);
        assert.doesNotMatch(r.out, /went on/);
    });

    it("the opt-in covers only what can be skipped: a failed phase not started --skippable still ends the run", () => {
        const r = harness(`phase_bg "images" false\nphase_wait "images"\necho "went on"`, { BYTE_RUNNER_ALLOW_SKIP: "1" });
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /FAILED: images; see above/);
        assert.doesNotMatch(r.out, /went on|SKIPPED/);
    });

    it("a background failure seen between phases ends the run at once", () => {
        const r = harness(`${FAILING_TOOLCHAIN}\nphase "fast suite"\nuntil [[ -s logs/Pulumi-toolchain.log.status ]]; do sleep 0.1; done\nphases_check\necho "integration suite"`);
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /FAILED: Pulumi toolchain; see above/);
        assert.doesNotMatch(r.out, /^integration suite$/m);
        assert.doesNotMatch(r.out, /SKIPPED/);
    });

    it("a failing foreground phase stops the background phases it leaves, by their own pids", () => {
        const r = harness(`phase_bg "images" bash -c 'echo $$ > image-build.pid; exec sleep 120'\nphase "fast suite"\nuntil [[ -s image-build.pid ]]; do sleep 0.1; done\nfalse`);
        assert.equal(r.status, 1, r.out);
        assert.match(r.out, /stopped \(run ended\)\s+images \(background\)/);
        assert.match(r.out, /FAILED\s+fast suite/);
        const pid = Number(fs.readFileSync(path.join(r.dir, "image-build.pid"), "utf8"));
        // Gone, or a zombie until init reaps it, within a few seconds of the SIGTERM.
        const running = () => {
            try {
                return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
            } catch {
                return false;
            }
        };
        for (let i = 0; i < 50 && running(); i++) spawnSync("sleep", ["0.1"]);
        assert.equal(running(), false, `the background sleep ${pid} still runs`);
    });

    it("times every phase and the total", () => {
        const r = harness(`phase_bg "downloads" true\nphase "one"\nphase_wait downloads\nphase "two"`);
        assert.equal(r.status, 0, r.out);
        // Seconds, not exact: a loaded machine starts the first phase a second late.
        assert.match(r.out, /^\s+0:0\d\s+0:0\d\s+ok\s+downloads \(background\)$/m);
        assert.match(r.out, /^\s+0:0\d\s+0:0\d\s+ok\s+two$/m);
        assert.match(r.out, /^\s+0:0\d\s+passed\s+total$/m);
    });
});

describe("tests/skip.ts and the end-to-end tests that need the engine", () => {
    it("every end-to-end file that runs the engine says so with needsPlugins(), which is how tools/test.sh knows to wait for the toolchain", () => {
        const dir = path.join(REPO, "tests", "e2e");
        const files = fs.readdirSync(dir).filter((file) => file.endsWith(".test.ts"));
        const runsEngine = files.filter((file) => /\bpulumi\(|"tools\/preview\.sh"/.test(fs.readFileSync(path.join(dir, file), "utf8")));
        assert.ok(runsEngine.includes("local.test.ts") && runsEngine.includes("preview.test.ts"), runsEngine.join(" "));
        const undeclared = runsEngine.filter((file) => !fs.readFileSync(path.join(dir, file), "utf8").includes("needsPlugins("));
        assert.deepEqual(undeclared, [], "these run the engine without needsPlugins(): tools/test.sh would start them before the toolchain is built");
    });

    it("a missing thing is a skip only with the opt-in, and then it is said", () => {
        const said: string[] = [];
        assert.equal(allowedSkip("caddy is not installed", { CI: "true" }, (line) => said.push(line)), undefined);
        assert.equal(allowedSkip(undefined, { BYTE_RUNNER_ALLOW_SKIP: "1" }, (line) => said.push(line)), undefined);
        assert.equal(said.length, 0);
        const reason: string | undefined = allowedSkip("caddy is not installed", { BYTE_RUNNER_ALLOW_SKIP: "1" }, (line) => said.push(line));
        assert.equal(reason, "SKIPPED because BYTE_RUNNER_ALLOW_SKIP=1: caddy is not installed");
        assert.match(said.join("\n"), /!!!!! SKIPPED because BYTE_RUNNER_ALLOW_SKIP=1: caddy is not installed\n!!!!! this run does NOT prove/);
    });

    it("reads what tools/test.sh found missing", () => {
        assert.equal(missingForEngine(["docker"], {}), false);
        assert.match(String(missingForEngine(["docker"], { BYTE_RUNNER_PULUMI: "missing" })), /the Pulumi engine or its plugins could not be built/);
        assert.equal(missingForEngine(["docker"], { BYTE_RUNNER_PLUGINS_MISSING: "cloudflare tls " }), false);
        assert.match(String(missingForEngine(["docker", "tls"], { BYTE_RUNNER_PLUGINS_MISSING: "cloudflare tls " })), /provider plugin\(s\) tls could not be built/);
    });

    // The file itself, started as tools/test.sh starts it when the toolchain build failed: it
    // fails before running anything, or, with the opt-in, reports its tests skipped.
    const previewFile = (env: Record<string, string>) => {
        const childEnv: NodeJS.ProcessEnv = { ...process.env, CI: "true", BYTE_RUNNER_PULUMI: "missing", ...env };
        delete childEnv.NODE_TEST_CONTEXT;
        delete childEnv.BYTE_RUNNER_ALLOW_SKIP;
        Object.assign(childEnv, env);
        const r = spawnSync(process.execPath, ["--import", "tsx", "--test", path.join(REPO, "tests", "e2e", "preview.test.ts")], { cwd: REPO, env: childEnv, encoding: "utf8", timeout: 60_000 });
        return { status: r.status, out: r.stdout + r.stderr };
    };

    it("tests/e2e/preview.test.ts fails, naming the missing engine, without the opt-in", () => {
        const r = previewFile({});
        assert.notEqual(r.status, 0, r.out);
        assert.match(r.out, /the Pulumi engine or its plugins could not be built on this machine/);
        assert.match(r.out, /to skip the tests that need it on purpose instead, set BYTE_RUNNER_ALLOW_SKIP=1/);
        assert.doesNotMatch(r.out, /# SKIP|skipped [1-9]/);
    });

    it("tests/e2e/preview.test.ts reports its tests skipped, loudly, with BYTE_RUNNER_ALLOW_SKIP=1", () => {
        const r = previewFile({ BYTE_RUNNER_ALLOW_SKIP: "1" });
        assert.equal(r.status, 0, r.out);
        assert.match(r.out, /SKIPPED because BYTE_RUNNER_ALLOW_SKIP=1: the Pulumi engine or its plugins could not be built/);
        assert.match(r.out, /skipped 2/);
    });
});
