// tools/logs.sh (`npm run logs`) with stand-ins for `pulumi` (the stack's config), `ssh`
// (runs the remote command with a real sh on this machine, as the VPS's shell would) and
// `docker`/`sudo` (canned logs): the stack's address, port, user and pinned host key reach
// ssh, the stack's key only through a 0600 file that is gone afterwards, every argument
// arrives intact on the other side, and only matching lines come back.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO } from "../tools/graph";

const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nfake-key-material-0123456789\n-----END OPENSSH PRIVATE KEY-----";
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ49MBLDa4hVQvrgQrnvBR0OhTAGfJaPlOLaCsvtmJKO";

const FAKE_PULUMI = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_RECORD/pulumi.args"
[[ "$1 $2 $3" == "config get --stack" ]] || { echo "fake pulumi: unexpected $*" >&2; exit 9; }
case $5 in
    hostAddress) echo 203.0.113.20 ;;
    hostSshPort) echo 2222 ;;
    hostSshUser) echo "$FAKE_SSH_USER" ;;
    hostSshHostKey) echo "${HOST_KEY}" ;;
    hostSshPrivateKey) printf '%s\\n' "$FAKE_PRIVATE_KEY" ;;
    *) echo "error: configuration key '$5' not found" >&2; exit 255 ;;
esac
`;

// Records its arguments (NUL-separated: the remote command has newlines) and the files they name while they exist, then runs the remote
// command the way sshd does: the login shell's -c with the one command string.
const FAKE_SSH = `#!/usr/bin/env bash
printf '%s\\0' "$@" >"$FAKE_RECORD/ssh.args"
previous=""
for argument in "$@"; do
    [[ $previous != -i ]] || { stat -c %a "$argument" >"$FAKE_RECORD/key.mode"; cp "$argument" "$FAKE_RECORD/key.content"; echo "$argument" >"$FAKE_RECORD/key.path"; }
    [[ $argument != UserKnownHostsFile=* ]] || cp "\${argument#UserKnownHostsFile=}" "$FAKE_RECORD/known_hosts"
    previous=$argument
done
PATH="$FAKE_VPS_BIN:$PATH" exec sh -c "\${!#}"
`;

const FAKE_SUDO = `#!/usr/bin/env bash
[[ $1 == -n ]] || { echo "fake sudo: expected -n first, got $*" >&2; exit 9; }
echo sudo >>"$FAKE_RECORD/sudo.calls"
shift
exec "$@"
`;

// Canned logs on both streams, as a container writes them (Postgres on stderr, Caddy's access log on stdout).
const FAKE_DOCKER = `#!/usr/bin/env bash
printf '%s\\n' "$*" >>"$FAKE_RECORD/docker.args"
case $1 in
    # The backend runs one container per release, found by its service label.
    ps) case "$*" in
            *label=org.byte-runner.service=byte-runner-staging-backend*) printf 'byte-runner-staging-backend-0a1b2c3d4e\\n' ;;
            *label=*) ;;
            *) printf '\\tbyte-runner-staging-postgres\\tUp 2 hours (healthy)\\nbyte-runner-staging-backend\\tbyte-runner-staging-backend-0a1b2c3d4e\\tUp 5 minutes\\n' ;;
        esac ;;
    container)
        [[ \${!#} == byte-runner-staging-backend-0a1b2c3d4e ]] || { echo "Error response from daemon: No such container: \${!#}" >&2; exit 1; } ;;
    logs)
        echo '{"level":"info","msg":"handled request","status":200,"uri":"/health"}'
        echo '{"level":"info","msg":"handled request","status":503,"uri":"/api/it'"'"'s $(touch pwned)"}'
        echo 'GET /api/orders 502 12ms' >&2
        echo 'GET /api/orders 200 3ms' ;;
    *) echo "fake docker: unexpected $*" >&2; exit 9 ;;
esac
`;

describe("npm run logs (tools/logs.sh)", () => {
    let work: string;
    let record: string;
    let fakeBin: string;
    let vpsBin: string;

    before(() => {
        work = fs.mkdtempSync(path.join(os.tmpdir(), "logs-test-"));
        fakeBin = path.join(work, "bin");
        vpsBin = path.join(work, "vps-bin");
        for (const [dir, files] of [
            [fakeBin, { pulumi: FAKE_PULUMI, ssh: FAKE_SSH }],
            [vpsBin, { docker: FAKE_DOCKER, sudo: FAKE_SUDO }],
        ] as const) {
            fs.mkdirSync(dir);
            for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text, { mode: 0o755 });
        }
    });

    after(() => fs.rmSync(work, { recursive: true, force: true }));

    function logs(args: string[], user = "root") {
        record = fs.mkdtempSync(path.join(work, "record-"));
        const result = spawnSync("bash", [path.join(REPO, "tools", "logs.sh"), ...args], {
            encoding: "utf8",
            cwd: work,
            env: {
                PATH: `${fakeBin}:${process.env.PATH ?? ""}`,
                HOME: work,
                // No Go-built Pulumi toolchain from the cache ahead of the stand-in; no state written in the clone.
                BYTE_RUNNER_CACHE: path.join(work, "cache"),
                PULUMI_BACKEND_URL: `file://${work}/backend`,
                PULUMI_CONFIG_PASSPHRASE: "",
                FAKE_RECORD: record,
                FAKE_VPS_BIN: vpsBin,
                FAKE_SSH_USER: user,
                FAKE_PRIVATE_KEY: PRIVATE_KEY,
            },
        });
        const read = (name: string) => (fs.existsSync(path.join(record, name)) ? fs.readFileSync(path.join(record, name), "utf8") : "");
        return { ...result, read };
    }

    it("reads the stack's connection from its config and pins its host key; the key only in a 0600 file, removed afterwards", () => {
        const r = logs(["staging", "backend", "--tail", "50"]);
        assert.equal(r.status, 0, r.stderr);
        const sshArgs = r.read("ssh.args").split("\0");
        const option = (name: string) => sshArgs.find((a) => a.startsWith(`${name}=`));
        assert.equal(sshArgs[sshArgs.indexOf("-p") + 1], "2222");
        assert.equal(sshArgs.at(-3), "root@203.0.113.20");
        assert.equal(option("StrictHostKeyChecking"), "StrictHostKeyChecking=yes");
        assert.equal(option("HostKeyAlias"), "HostKeyAlias=byte-runner-staging");
        assert.equal(r.read("known_hosts"), `byte-runner-staging ${HOST_KEY}\n`);
        assert.equal(r.read("key.mode").trim(), "600");
        assert.equal(r.read("key.content"), `${PRIVATE_KEY}\n`);
        assert.equal(fs.existsSync(r.read("key.path").trim()), false, "the key file outlived the command");
        for (const args of [r.read("ssh.args"), r.read("pulumi.args"), r.read("docker.args")]) {
            assert.ok(!args.includes("fake-key-material"), `the private key on a command line: ${args}`);
        }
        assert.deepEqual(r.read("pulumi.args").trimEnd().split("\n"), ["hostAddress", "hostSshPort", "hostSshUser", "hostSshHostKey", "hostSshPrivateKey"].map((key) => `config get --stack staging ${key}`));
        assert.match(r.read("docker.args"), /^logs --tail 50 byte-runner-staging-backend-0a1b2c3d4e$/m);
        assert.equal(r.read("sudo.calls"), "", "sudo used for root");
        // Both streams of the container, all lines.
        assert.equal(r.stdout.trimEnd().split("\n").length, 4, r.stdout);
    });

    it("filters on the VPS with the pattern exactly as given, and passes --since and --follow to docker logs", () => {
        // Quotes and command substitutions in the pattern are text to grep, never run by a shell.
        const r = logs(["staging", "backend", "--since", "1h", "--follow", "--grep", `"status":5[0-9][0-9]| 50[0-9] |it's not there|$(touch pwned)|\`touch pwned\``]);
        assert.equal(r.status, 0, r.stderr);
        assert.deepEqual(r.stdout.trimEnd().split("\n"), [`{"level":"info","msg":"handled request","status":503,"uri":"/api/it's $(touch pwned)"}`, "GET /api/orders 502 12ms"]);
        assert.match(r.read("docker.args"), /^logs --since 1h --follow byte-runner-staging-backend-0a1b2c3d4e$/m);
        for (const dir of [work, REPO]) assert.equal(fs.existsSync(path.join(dir, "pwned")), false, `a shell ran the pattern in ${dir}`);
    });

    it("goes through sudo -n for a user other than root", () => {
        const r = logs(["staging", "backend", "--own-key"], "deploy");
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.read("ssh.args").split("\0").at(-3), "deploy@203.0.113.20");
        assert.ok(!r.read("ssh.args").includes("IdentitiesOnly"), "--own-key still passes the stack's key");
        assert.ok(!r.read("pulumi.args").includes("hostSshPrivateKey"), "--own-key still reads the stack's key");
        assert.match(r.read("docker.args"), /^logs --tail 200 byte-runner-staging-backend-0a1b2c3d4e$/m);
        assert.equal(r.read("sudo.calls").trimEnd().split("\n").length, 3, "docker ps (the release), docker inspect and docker logs through sudo");
    });

    it("says when nothing matched (exit 0) and names a container that is not there (exit 3)", () => {
        const none = logs(["staging", "backend", "--grep", "no such line"]);
        assert.equal(none.status, 0, none.stderr);
        assert.equal(none.stdout, "");
        assert.match(none.stderr, /no line matched/);
        const missing = logs(["staging", "frontend"]);
        assert.equal(missing.status, 3);
        assert.match(missing.stderr, /No such container: byte-runner-staging-frontend/);
    });

    it("lists the stack's services without their prefix", () => {
        const r = logs(["staging", "--list"]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stdout, "backend\tUp 5 minutes\npostgres\tUp 2 hours (healthy)\n");
        assert.match(r.read("docker.args"), /^ps -a --filter name=\^byte-runner-staging- /m);
    });

    it("refuses a service or stack name that is not a name, and bad options, before connecting", () => {
        for (const args of [["staging", "backend;reboot"], ["staging", "../postgres"], ["Staging!", "backend"], ["staging", "backend", "--tail", "1;x"], ["staging", "backend", "--since", "1h now"], ["staging", "backend", "--bogus"], ["staging"]]) {
            const r = logs(args);
            assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
            assert.equal(r.read("ssh.args"), "", `${args.join(" ")} connected`);
        }
    });
});
