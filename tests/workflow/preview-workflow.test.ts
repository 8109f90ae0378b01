// The GitHub workflows as GitHub's hosted runner would run them: actionlint on each file,
// every program the fast suite starts is installed by the pull-request workflow (or is on
// the runner already), and the preview job's run: steps pass in order, in a fresh clone on
// this machine. Only uses: steps are not run (they need GitHub itself); the output names
// each, with what stands in for it here.
// Not in the fast suite: one of the steps is `npm test`. tools/test.sh runs it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { allowedSkip } from "../skip";

const REPO = path.resolve(__dirname, "..", "..");
const WORKFLOWS = path.join(REPO, ".github", "workflows");
const PREVIEW = path.join(WORKFLOWS, "preview.yml");

interface Step {
    name?: string;
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
    shell?: string;
    "working-directory"?: string;
}
interface Job {
    steps: Step[];
    env?: Record<string, unknown>;
    strategy?: { matrix?: Record<string, unknown> };
}
interface Workflow {
    env?: Record<string, unknown>;
    jobs: Record<string, Job>;
}

const readWorkflow = (file: string): Workflow => parse(fs.readFileSync(file, "utf8")) as Workflow;
const stepLabel = (step: Step, index: number) => `step ${index + 1} (${step.name ?? step.uses ?? step.run?.split("\n")[0]})`;

/** What a uses: step does on GitHub, and what stands in for it here (or why nothing needs to). */
const NOT_RUN_HERE: Record<string, string> = {
    "actions/checkout": "needs GitHub (the pull request's commit); stood in for by a fresh `git clone` of this repository's HEAD",
    "actions/setup-node": "needs GitHub (Node from its tool cache); stood in for by the Node 24 binary of this repository's npm package `node`, first on PATH",
    "actions/setup-go": "needs GitHub (Go from its tool cache); stood in for by this machine's Go (the go command refuses a module that needs a newer one)",
    "pulumi/actions": "needs GitHub and Pulumi's services (the CLI download, the state backend, the comment on the pull request); tests/e2e/preview.test.ts previews both stacks with the engine built here and the policy pack",
};

/** Programs the hosted runner (ubuntu-latest) has without installing anything: Ubuntu's base, git, OpenSSH's client, Node from setup-node. */
const ON_THE_RUNNER = new Set(["bash", "sh", "sleep", "kill", "ps", "git", "ssh-keygen", "node", "npm"]);

/** Programs whose package has another name. */
const PACKAGE_OF: Record<string, string> = { promtool: "prometheus" };

/** The Debian/Ubuntu packages a run: script installs with apt-get install. */
function aptPackages(script: string): string[] {
    const packages: string[] = [];
    for (const match of script.matchAll(/apt-get\b[^\n]*?\binstall\b([^\n]*)/g)) {
        packages.push(...match[1]!.split(/\s+/).filter((word) => word && !word.startsWith("-")));
    }
    return packages;
}

/** The programs a run: script builds with tools/local-vps/go-build.sh (the binaries' names, from its --path). */
function goBuilt(script: string): string[] {
    return [...script.matchAll(/tools\/local-vps\/go-build\.sh (\S+)/g)].flatMap((match) => {
        const built = spawnSync("bash", [path.join(REPO, "tools", "local-vps", "go-build.sh"), match[1]!, "--path"], { encoding: "utf8" });
        assert.equal(built.status, 0, `go-build.sh ${match[1]} --path: ${built.stderr}`);
        return built.stdout.trim().split("\n").map((file) => path.basename(file));
    });
}

/** The fast suite's files: what `npm test` runs, with the local modules in tests/ they share. */
function fastSuiteFiles(): string[] {
    const files: string[] = [];
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (entry.name.endsWith(".test.ts")) files.push(full);
        }
    };
    walk(path.join(REPO, "components"));
    for (const entry of fs.readdirSync(path.join(REPO, "tests"))) {
        if (entry.endsWith(".ts")) files.push(path.join(REPO, "tests", entry));
    }
    return files;
}

/** actionlint is built from its Go module on first use (tools/actionlint.sh). */
const actionlintBuild = spawnSync("bash", [path.join(REPO, "tools", "actionlint.sh"), "--build"], { encoding: "utf8" });
const actionlintMissing = actionlintBuild.status === 0 ? undefined : `actionlint could not be built (tools/actionlint.sh): ${actionlintBuild.stderr.trim().split("\n").slice(-3).join(" / ")}`;

describe("GitHub workflows", () => {
    it("pass actionlint (which checks their run: scripts with shellcheck)", { skip: allowedSkip(actionlintMissing) }, () => {
        assert.equal(actionlintMissing, undefined, actionlintMissing);
        const files = fs
            .readdirSync(WORKFLOWS)
            .filter((file) => /\.ya?ml$/.test(file))
            .map((file) => path.join(WORKFLOWS, file));
        assert.ok(files.includes(PREVIEW));
        const r = spawnSync("bash", [path.join(REPO, "tools", "actionlint.sh"), "-no-color", ...files], { encoding: "utf8" });
        assert.equal(r.status, 0, `actionlint:\n${r.stdout}${r.stderr}`);
    });

    it("the pull-request workflow installs every program the fast suite starts", () => {
        const runs = Object.values(readWorkflow(PREVIEW).jobs)
            .flatMap((job) => job.steps)
            .flatMap((step) => (step.run ? [step.run] : []));
        // Caddy and amtool of the pinned releases are built from their Go modules, not installed from the archive.
        const installed = new Set([...runs.flatMap(aptPackages), ...runs.flatMap(goBuilt)]);
        const started = new Map<string, string>();
        for (const file of fastSuiteFiles()) {
            // A program started by name, or one a test finds with tests/built-tool.ts (its `binary:`).
            for (const match of fs.readFileSync(file, "utf8").matchAll(/\b(?:spawnSync|spawn|execFileSync|execFile)\(\s*"([^"]+)"|\bbinary: "([^"]+)"/g)) {
                started.set((match[1] ?? match[2])!, path.relative(REPO, file));
            }
        }
        assert.ok(started.has("caddy") && started.has("amtool") && started.has("shellcheck"), `expected the Caddyfile, alertmanager.yml and shellcheck tests among ${[...started.keys()]}`);
        const missing = [...started].filter(([program]) => !ON_THE_RUNNER.has(program) && !installed.has(PACKAGE_OF[program] ?? program));
        assert.deepEqual(missing, [], `started by the fast suite, neither on the hosted runner nor installed by preview.yml (apt-get install ${[...installed].join(" ")})`);
    });

    it("the pull-request workflow's preview runs the policy pack, after a run: step installed the pack's dependencies", () => {
        const steps = Object.values(readWorkflow(PREVIEW).jobs).flatMap((job) => job.steps);
        const preview = steps.findIndex((step) => step.uses?.startsWith("pulumi/actions@") && step.with?.command === "preview");
        assert.ok(preview >= 0, "no pulumi/actions preview step");
        const pack = String(steps[preview]!.with?.policyPacks ?? "");
        assert.equal(pack, "policy", "the preview step's policyPacks");
        assert.ok(fs.existsSync(path.join(REPO, pack, "PulumiPolicy.yaml")), `${pack}/PulumiPolicy.yaml`);
        const installs = steps.findIndex((step) => /\bnpm ci --prefix policy\b/.test(step.run ?? ""));
        assert.ok(installs >= 0 && installs < preview, "no run: step before the preview runs npm ci --prefix policy");
    });
});

describe("the pull-request workflow's preview job, on this machine", () => {
    it("passes its run: steps in order in a fresh clone; only the uses: steps, which need GitHub, are not run", { timeout: 40 * 60_000 }, (t) => {
        const workflow = readWorkflow(PREVIEW);
        const job = workflow.jobs.preview;
        assert.ok(job, "preview.yml has a job named preview");
        const work = fs.mkdtempSync(path.join(os.tmpdir(), "byte-runner-workflow-"));
        try {
            const clone = path.join(work, "repo");
            const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: REPO, encoding: "utf8" }).stdout.trim();
            const cloned = spawnSync("git", ["clone", "--quiet", "--no-hardlinks", REPO, clone], { encoding: "utf8" });
            assert.equal(cloned.status, 0, cloned.stderr);

            // What the runner has and this machine may not: Node 24 first on PATH, sudo.
            const shims = path.join(work, "bin");
            fs.mkdirSync(shims);
            const projectNode = fs.realpathSync(path.join(REPO, "node_modules", ".bin", "node"));
            fs.symlinkSync(projectNode, path.join(shims, "node"));
            const notes: string[] = [];
            const hasSudo = spawnSync("sh", ["-c", "command -v sudo"]).status === 0;
            if (!hasSudo && process.getuid?.() === 0) {
                fs.writeFileSync(path.join(shims, "sudo"), '#!/bin/sh\n# The runner\'s passwordless sudo; this machine runs the steps as root already.\nexec "$@"\n', { mode: 0o755 });
                notes.push("sudo: this machine runs as root and has no sudo; a pass-through `sudo` stands in for the runner's passwordless one");
            }
            // The outer run's node_modules/.bin stays off PATH: the steps get only what they install.
            const outerPath = (process.env.PATH ?? "").split(":").filter((dir) => dir && !dir.includes("node_modules"));
            const env: NodeJS.ProcessEnv = { ...process.env, PATH: [shims, ...outerPath].join(":"), CI: "true", GITHUB_ACTIONS: "true" };
            // Neither npm's variables of the outer run nor node:test's: a `node --test` that
            // finds NODE_TEST_CONTEXT set reports to a parent that is not there, and runs nothing.
            for (const key of Object.keys(env)) if (key.startsWith("npm_") || key === "NODE_TEST_CONTEXT") delete env[key];

            const matrix = job.strategy?.matrix;
            if (matrix) notes.push(`matrix ${JSON.stringify(matrix)}: no run: step uses it, so they run once`);
            const plain = (where: string, values: Record<string, unknown> | undefined) => {
                for (const [key, value] of Object.entries(values ?? {})) {
                    assert.ok(!String(value).includes("${{"), `${where}: env ${key} is an expression, which this test cannot evaluate`);
                    env[key] = String(value);
                }
            };
            plain("workflow", workflow.env);
            plain("job", job.env);

            let ran = 0;
            job.steps.forEach((step, index) => {
                const label = stepLabel(step, index);
                if (step.uses) {
                    const action = step.uses.split("@")[0]!;
                    const why = NOT_RUN_HERE[action];
                    assert.ok(why, `${label}: uses ${step.uses}, which this test does not know; say in NOT_RUN_HERE what it needs and what stands in for it`);
                    if (action === "actions/setup-node") {
                        const wanted = String(step.with?.["node-version"] ?? "");
                        const version = spawnSync(projectNode, ["--version"], { encoding: "utf8" }).stdout.trim();
                        assert.ok(version.startsWith(`v${wanted}.`), `${label} asks for Node ${wanted}; the stand-in is ${version}`);
                    }
                    const detail = action === "actions/checkout" ? ` (${head}; uncommitted changes are not in it)` : "";
                    t.diagnostic(`${label}: NOT RUN: ${why}${detail}`);
                    return;
                }
                assert.ok(step.run, `${label} has neither uses: nor run:`);
                assert.ok(!step.run.includes("${{"), `${label}: its script has an expression, which this test cannot evaluate`);
                assert.ok(step.shell === undefined || step.shell === "bash", `${label}: shell ${step.shell} is not handled here`);
                const stepEnv = { ...env };
                for (const [key, value] of Object.entries(step.env ?? {})) {
                    assert.ok(!String(value).includes("${{"), `${label}: env ${key} is an expression, which this test cannot evaluate`);
                    stepEnv[key] = String(value);
                }
                const script = path.join(work, `step-${index + 1}.sh`);
                fs.writeFileSync(script, step.run);
                const started = Date.now();
                // The runner's default shell for run: steps.
                const r = spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", script], {
                    cwd: path.join(clone, step["working-directory"] ?? "."),
                    env: stepEnv,
                    encoding: "utf8",
                    timeout: 20 * 60_000,
                    maxBuffer: 64 * 1024 * 1024,
                });
                const seconds = Math.round((Date.now() - started) / 1000);
                assert.equal(r.status, 0, `${label} failed (exit ${r.status}, ${seconds} s):\n--- stdout (tail)\n${r.stdout.slice(-6000)}\n--- stderr (tail)\n${r.stderr.slice(-6000)}`);
                // A step that runs node's test runner shows its counts: proof that tests ran.
                const counts = ["tests", "pass", "fail", "skipped"].map((word) => r.stdout.match(new RegExp(`^ℹ ${word} (\\d+)$`, "m"))?.[0]?.slice(2)).filter(Boolean);
                if (/\bnpm test\b/.test(step.run)) assert.match(r.stdout, /^ℹ pass [1-9]\d*$/m, `${label} ran npm test, but no test passed:\n${r.stdout.slice(-3000)}`);
                t.diagnostic(`${label}: passed in ${seconds} s${counts.length ? ` (${counts.join(", ")})` : ""}`);
                ran++;
            });
            // What the preview step then needs: the policy pack's own dependencies.
            assert.ok(fs.existsSync(path.join(clone, "policy", "node_modules", "@pulumi", "policy", "package.json")), "after the run: steps, policy/node_modules has no @pulumi/policy");
            for (const note of notes) t.diagnostic(note);
            assert.ok(ran >= 3, `expected the packages, npm ci and the fast suite among the run: steps; ran ${ran}`);
        } finally {
            fs.rmSync(work, { recursive: true, force: true });
        }
    });
});
