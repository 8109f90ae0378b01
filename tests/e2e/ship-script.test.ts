// Scripts reach the VPS as files, with no size ceiling: a script larger than 256 KiB
// (Linux caps one command-line argument at 128 KiB) is shipped to the local VPS (sshd on
// 127.0.0.1:2222, this machine) and run there over SSH.
// 1. Through the shell protocol the components generate (uploadCommand, runCommand), fed
//    to real ssh: the upload is checked against its sha256, a cut-off upload replaces
//    nothing, a missing file is named with the upload to replace, old versions are pruned.
// 2. Through the real engine: a tiny Pulumi program ships it with ShippedScript and the
//    command provider, a second `pulumi up` changes nothing, a preview of a changed script
//    shows its upload replaced and its run updated, and the runbook for a file missing on
//    the host (`pulumi up --replace <upload>`) brings it back.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { KEPT_VERSIONS, MISSING_SCRIPT_RUNBOOK, runCommand, SCRIPT_MISSING_STATUS, SCRIPTS_DIR, scriptFile, settingsText, shippedText, uploadCommand } from "../../components/shared/vps-script";
import { explain, needsPlugins, pulumi, REPO, Run, run } from "./pulumi";

const MIN_SIZE = 256 * 1024;
const WORK = path.join(REPO, ".state", `ship-script-test-${process.pid}`);

/**
 * A bash script of about `kib` KiB that reads its settings the one way (GREETING), and
 * prints them with facts only a complete run of the whole file can know: the number of
 * items in a 300 KiB array literal, the last one, and its own sha256.
 */
function bigScript(version: number, kib = 300): string {
    const items: string[] = [];
    for (let i = 0; items.join(" ").length < kib * 1024; i++) items.push(`item-${version}-${String(i).padStart(6, "0")}`);
    return [
        "#!/usr/bin/env bash",
        `# A test script, version ${version}: shipped as a file, never as a command-line argument.`,
        "set -euo pipefail",
        "# shellcheck source=../../components/shared/settings.sh",
        'source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"',
        "settings_read big-script GREETING",
        `items=(${items.join(" ")})`,
        'printf "greeting: %s\\n" "${settings[GREETING]}"',
        'printf "items: %d, last: %s\\n" "${#items[@]}" "${items[-1]}"',
        'sha256sum "$0"',
        "",
    ].join("\n");
}

/** bigScript written to WORK/<name>, and the text that is shipped for it (settings.sh inlined). */
function writeScript(name: string, version: number, kib = 300): string {
    const file = path.join(WORK, name);
    fs.writeFileSync(file, bigScript(version, kib));
    return shippedText(file);
}

/** What a complete run of `text` prints, from `file` on the host. */
function expectedOutput(text: string, file: string, greeting: string): RegExp {
    const items = /^items=\((.*)\)$/m.exec(text)![1].split(" ");
    const hash = scriptFile("x", text).sha256;
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return new RegExp(`^greeting: ${esc(greeting)}\\nitems: ${items.length}, last: ${esc(items[items.length - 1])}\\n${hash}  ${esc(file)}$`, "m");
}

interface Ssh {
    port: string;
    keyFile: string;
    hostKey: string;
    knownHosts: string;
}

function localVps(): Ssh {
    const r = run("bash", ["-c", 'eval "$(bash tools/local-vps/sshd.sh env)" && printf "%s\\n" "$LOCAL_VPS_SSH_PORT" "$LOCAL_VPS_SSH_PRIVATE_KEY_FILE" "$LOCAL_VPS_SSH_HOST_KEY" "$LOCAL_VPS_SSH_KNOWN_HOSTS_FILE"']);
    assert.equal(r.status, 0, `the local VPS's sshd is not set up (bash tools/local-stack.sh vps): ${explain(r)}`);
    const [port, keyFile, hostKey, knownHosts] = r.stdout.trim().split("\n");
    return { port, keyFile, hostKey, knownHosts };
}

/** Runs `command` on the local VPS as root over real ssh, with `input` on stdin. */
function ssh(vps: Ssh, command: string, input: string): Run {
    const options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${vps.knownHosts}`, "-o", "IdentitiesOnly=yes"];
    return run("ssh", [...options, "-i", vps.keyFile, "-p", vps.port, "root@127.0.0.1", command], { input, timeoutMs: 120_000 });
}

const removeVersions = (name: string) => {
    if (!fs.existsSync(SCRIPTS_DIR)) return;
    for (const f of fs.readdirSync(SCRIPTS_DIR)) if (f.startsWith(`${name}-`)) fs.rmSync(path.join(SCRIPTS_DIR, f));
};

describe("a script larger than 256 KiB is shipped to the VPS as a file and run over SSH", { concurrency: false }, () => {
    let vps: Ssh;
    before(() => {
        vps = localVps();
        fs.mkdirSync(WORK, { recursive: true });
    });
    after(() => {
        fs.rmSync(WORK, { recursive: true, force: true });
        for (const name of ["big-protocol.sh", "big-engine.sh"]) removeVersions(name);
    });

    it("1. the shell protocol over real ssh: uploaded and checked, run from the file, a cut-off upload and a missing file refused", () => {
        const text = writeScript("big-protocol.sh", 1);
        assert.ok(Buffer.byteLength(text) > MIN_SIZE, `the script is only ${Buffer.byteLength(text)} bytes`);
        const file = scriptFile("big-protocol.sh", text);

        const upload = ssh(vps, uploadCommand(file, false), text);
        assert.equal(upload.status, 0, explain(upload));
        assert.ok(uploadCommand(file, false).length < 2048, "the upload's command line carries more than the protocol");
        assert.equal(fs.readFileSync(file.path, "utf8"), text);
        const stat = fs.statSync(file.path);
        assert.deepEqual([stat.uid, stat.mode & 0o777], [0, 0o644], "root-owned, not writable by others");

        const urn = "urn:pulumi:test::ship::command:remote:Command::big-protocol-upload";
        const runIt = (greeting: string) => ssh(vps, runCommand(file, urn, [], [], false), settingsText({ GREETING: greeting }));
        const first = runIt("over ssh");
        assert.equal(first.status, 0, explain(first));
        assert.match(first.stdout, expectedOutput(text, file.path, "over ssh"));

        // Cut off on the way: the file in place stays the complete one, and no temporary file is left.
        const cut = ssh(vps, uploadCommand(file, false), text.slice(0, 100_000));
        assert.equal(cut.status, 1, explain(cut));
        assert.match(cut.stderr, /the upload of big-protocol\.sh arrived incomplete or changed .*nothing was replaced/);
        assert.equal(fs.readFileSync(file.path, "utf8"), text);
        assert.deepEqual(fs.readdirSync(SCRIPTS_DIR).filter((f) => f.startsWith(".upload.")), []);

        // Gone from the host: the run says so, names the upload to replace and the runbook.
        fs.rmSync(file.path);
        const missing = runIt("again");
        assert.equal(missing.status, SCRIPT_MISSING_STATUS, explain(missing));
        assert.match(missing.stderr, /big-protocol\.sh is missing on this host/);
        assert.ok(missing.stderr.includes(`pulumi up --replace '${urn}'`), missing.stderr);
        assert.ok(missing.stderr.includes(MISSING_SCRIPT_RUNBOOK), missing.stderr);
        // Uploaded again (what `pulumi up --replace` does), it runs.
        assert.equal(ssh(vps, uploadCommand(file, false), text).status, 0);
        assert.equal(runIt("again").status, 0);
    });

    it(`1b. each upload keeps the newest ${KEPT_VERSIONS} versions of its script`, () => {
        const files = [2, 3, 4, 5, 6, 7, 8].map((version) => {
            const text = writeScript("big-protocol.sh", version, 1);
            const file = scriptFile("big-protocol.sh", text);
            assert.equal(ssh(vps, uploadCommand(file, false), text).status, 0);
            return file;
        });
        const kept = fs.readdirSync(SCRIPTS_DIR).filter((f) => f.startsWith("big-protocol.sh-")).sort();
        assert.deepEqual(kept, files.slice(-KEPT_VERSIONS).map((f) => path.basename(f.path)).sort());
    });

    describe("2. the real engine: a tiny Pulumi program with ShippedScript and the command provider", { skip: needsPlugins("command") }, () => {
        const project = path.join(WORK, "program");
        const stack = `ship-${process.pid}`;
        const scriptPath = path.join(project, "big-engine.sh");
        const inProject = (args: string[], input?: string) => pulumi([...args, "--cwd", project, "--stack", stack, "--non-interactive"], { input });
        const must = (r: Run) => {
            assert.equal(r.status, 0, explain(r));
            return r;
        };
        const outputs = () => JSON.parse(must(inProject(["stack", "output", "--json", "--show-secrets"])).stdout) as { stdout: string; path: string; uploadUrn: string };

        before(() => {
            fs.mkdirSync(project, { recursive: true });
            fs.writeFileSync(
                path.join(project, "Pulumi.yaml"),
                "name: byte-runner-ship-test\nruntime:\n  name: nodejs\n  options:\n    typescript: false\n    nodeargs: --import tsx\nmain: index.ts\n",
            );
            // The program the components use, reduced to one shipped script and one command that runs it.
            fs.writeFileSync(
                path.join(project, "index.ts"),
                [
                    'import * as command from "@pulumi/command";',
                    'import * as pulumi from "@pulumi/pulumi";',
                    `import { settingsText, ShippedScript } from ${JSON.stringify(path.join(REPO, "components", "shared", "vps-script"))};`,
                    "const config = new pulumi.Config();",
                    'const connection = { host: "127.0.0.1", port: config.requireNumber("port"), user: "root", privateKey: config.requireSecret("privateKey"), hostKey: config.require("hostKey") };',
                    'const script = new ShippedScript("big-upload", config.require("script"), { connection, sudo: false }, {});',
                    'const ran = new command.remote.Command("big-run", { connection, create: script.command(), stdin: settingsText({ GREETING: config.require("greeting") }) }, { dependsOn: [script.upload] });',
                    "export const stdout = ran.stdout;",
                    "export const path = script.path;",
                    "export const uploadUrn = script.upload.urn;",
                    "",
                ].join("\n"),
            );
            fs.writeFileSync(scriptPath, bigScript(1));
            must(pulumi(["stack", "init", stack, "--cwd", project, "--secrets-provider", "passphrase", "--non-interactive"]));
            for (const [key, value] of Object.entries({ port: vps.port, hostKey: vps.hostKey, script: scriptPath, greeting: "from pulumi" })) must(inProject(["config", "set", key, value]));
            must(inProject(["config", "set", "--secret", "privateKey"], fs.readFileSync(vps.keyFile, "utf8")));
        });
        after(() => {
            inProject(["destroy", "--yes", "--skip-preview"]);
            inProject(["stack", "rm", "--yes", "--force"]);
        });

        it("pulumi up ships and runs it; a second up changes nothing", () => {
            must(inProject(["up", "--yes", "--skip-preview"]));
            const o = outputs();
            assert.equal(fs.readFileSync(o.path, "utf8"), shippedText(scriptPath), "the file on the host is the shipped text (settings.sh inlined)");
            assert.match(o.stdout, expectedOutput(shippedText(scriptPath), o.path, "from pulumi"));
            must(inProject(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
            must(inProject(["preview", "--expect-no-changes"]));
        });

        it("a changed script: the preview shows its upload replaced and its run updated, and up runs the new one", () => {
            const old = outputs().path;
            fs.writeFileSync(scriptPath, bigScript(2));
            // The diff a reviewer reads: the script's changed line, not a wall of text.
            const diff = must(inProject(["preview", "--diff"])).stdout;
            assert.match(diff, /^\s*- # A test script, version 1: /m, diff.slice(0, 4000));
            assert.match(diff, /^\s*\+ # A test script, version 2: /m);
            assert.ok(diff.length < 64 * 1024, `the preview prints ${diff.length} characters for a one-line change`);
            const plan = JSON.parse(must(inProject(["preview", "--json"])).stdout) as { steps?: { op: string; urn: string }[] };
            const ops = (name: string) => [...new Set((plan.steps ?? []).filter((s) => s.urn.endsWith(`::${name}`)).map((s) => s.op))].sort();
            assert.ok(ops("big-upload").includes("replace") || ops("big-upload").includes("create-replacement"), `big-upload: ${ops("big-upload")}`);
            assert.deepEqual(ops("big-run"), ["update"]);
            must(inProject(["up", "--yes", "--skip-preview"]));
            const o = outputs();
            assert.notEqual(o.path, old);
            assert.match(o.stdout, expectedOutput(shippedText(scriptPath), o.path, "from pulumi"));
            assert.ok(fs.existsSync(old), "the previous version is kept (a command still in the state may run it)");
        });

        it("the file missing on the host: up fails naming the upload, and the runbook's `pulumi up --replace` brings it back", () => {
            const { path: file, uploadUrn } = outputs();
            fs.rmSync(file);
            must(inProject(["config", "set", "greeting", "after the runbook"]));
            const failed = inProject(["up", "--yes", "--skip-preview"]);
            assert.notEqual(failed.status, 0, explain(failed));
            const said = failed.stdout + failed.stderr;
            assert.match(said, /big-engine\.sh is missing on this host/);
            assert.ok(said.includes(`pulumi up --replace '${uploadUrn}'`), said.slice(-4000));
            must(inProject(["up", "--yes", "--skip-preview", "--replace", uploadUrn]));
            assert.ok(fs.existsSync(file));
            assert.match(outputs().stdout, expectedOutput(shippedText(scriptPath), file, "after the runbook"));
            must(inProject(["up", "--yes", "--skip-preview", "--expect-no-changes"]));
        });
    });
});
