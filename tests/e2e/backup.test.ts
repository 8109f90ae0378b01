// Backups of the local stack, end to end, with real servers: PostgreSQL archiving WAL with
// pgBackRest into a local repository and into the S3 server on this machine (the offsite
// store, tools/local-vps/s3.sh), the scheduler container, and the operator's command run
// over SSH exactly as the runbook (INFRASTRUCTURE.md, Backups) writes it: point-in-time
// recovery, restore drills (good, damaged, offsite down), retention, secrets, and the
// disaster drill (Postgres, its volume and the local repository gone; the offsite
// repository alone brings the data back). Needs `bash tools/local-stack.sh setup` first.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, it } from "node:test";
import { explain, needsPlugins, pulumi, REPO, run, Run } from "./pulumi";

const STACK = ["--stack", "local", "--non-interactive"];
const PREFIX = "byte-runner-local";
const BACKUP = `${PREFIX}-backup`;
const METRICS = `/var/lib/byte-runner/${PREFIX}/metrics`;
const SKIP = needsPlugins("command", "docker", "random");

function up(extra: string[] = []): void {
    const r = pulumi(["up", ...STACK, "--yes", "--skip-preview", ...extra]);
    assert.equal(r.status, 0, explain(r));
}

function config(args: string[]): void {
    const r = pulumi(["config", ...args, ...STACK.slice(0, 2)]);
    assert.equal(r.status, 0, explain(r));
}

function docker(args: string[]): string {
    const r = run("docker", args);
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}

/** The state of the backend's containers (one per release, found by their service label, as the scripts find them). */
function backendState(): string {
    return docker(["ps", "-a", "--filter", `label=org.byte-runner.service=${PREFIX}-backend`, "--format", "{{.State}}"]);
}

function psql(sql: string, database = "app"): string {
    const r = run("docker", ["exec", "-i", `${PREFIX}-postgres`, "psql", "-X", "-U", "postgres", "-d", database, "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql]);
    assert.equal(r.status, 0, explain(r));
    return r.stdout.trim();
}

/** The operator's command on the VPS, over SSH, as the runbook has it: `ssh <vps> byte-runner-local-backup ...`. */
function operator(args: string[], timeoutMs = 15 * 60_000): Run {
    const env = Object.fromEntries(
        run("bash", ["tools/local-vps/sshd.sh", "env"])
            .stdout.trim()
            .split("\n")
            .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1).replace(/^'|'$/g, "")]),
    );
    return run(
        "ssh",
        [
            "-i", env.LOCAL_VPS_SSH_PRIVATE_KEY_FILE,
            "-o", `UserKnownHostsFile=${env.LOCAL_VPS_SSH_KNOWN_HOSTS_FILE}`,
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-p", env.LOCAL_VPS_SSH_PORT,
            `${env.LOCAL_VPS_SSH_USER}@${env.LOCAL_VPS_SSH_HOST}`,
            BACKUP, ...args.map((a) => `'${a}'`),
        ],
        { timeoutMs },
    );
}

function ok(args: string[]): string {
    const r = operator(args);
    assert.equal(r.status, 0, explain(r));
    return r.stdout + r.stderr;
}

/** A metric's value from the textfile the scheduler writes for node_exporter. */
function metric(file: string, name: string): number | undefined {
    const text = fs.existsSync(path.join(METRICS, file)) ? fs.readFileSync(path.join(METRICS, file), "utf8") : "";
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(" ")[1]);
}

/** Each table's row count and a content checksum, in both databases: what a restore must give back. */
function fingerprint(): string {
    const sql = `SELECT string_agg(format('%s.%s %s', schemaname, tablename, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) || '':'' || md5(coalesce(string_agg(t::text, '','' ORDER BY t::text), '''')) AS c FROM %I.%I t', schemaname, tablename), false, true, '')))[1]::text), E'\\n' ORDER BY 1) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`;
    return `${psql(sql, "app")}\n--\n${psql(sql, "supertokens")}`;
}

/** Backups listed by `info --output=json` per repository key. */
function backupsByRepo(): Record<number, string[]> {
    const info = JSON.parse(docker(["exec", "-u", "postgres", BACKUP, "pgbackrest", `--config=/var/lib/byte-runner/${PREFIX}/backup/pgbackrest.conf`, "--stanza=main", "--output=json", "info"])) as {
        backup: { label: string; type: string; database: { "repo-key": number } }[];
    }[];
    const out: Record<number, string[]> = { 1: [], 2: [] };
    for (const b of info[0].backup) if (b.type === "full") out[b.database["repo-key"]].push(b.label);
    return out;
}

describe("backups of the local stack, end to end", { concurrency: false }, () => {
    before(() => {
        if (SKIP) return;
        assert.ok(fs.existsSync(path.join(REPO, "Pulumi.local.yaml")), "run `bash tools/local-stack.sh setup` first");
        const s3 = run("bash", ["tools/local-vps/s3.sh", "start"]);
        assert.equal(s3.status, 0, explain(s3));
        up();
    });

    it("1. archives WAL into both repositories and takes a full backup of each, with the scheduler running", { skip: SKIP }, () => {
        assert.match(docker(["inspect", "-f", "{{.State.Health.Status}}", BACKUP]), /healthy|starting/);
        psql("CREATE TABLE IF NOT EXISTS backup_probe (id bigint PRIMARY KEY, note text, at timestamptz DEFAULT clock_timestamp())");
        ok(["backup", "full"]);
        const backups = backupsByRepo();
        assert.ok(backups[1].length >= 1 && backups[2].length >= 1, JSON.stringify(backups));
        assert.equal(metric("backup.prom", 'byte_runner_backup_last_status{repo="2",type="full"}'), 1);
        const info = ok(["info"]);
        assert.match(info, /repo1: backup set size/);
        assert.match(info, /repo2: backup set size/);
        assert.match(info, /cipher: aes-256-cbc/);
    });

    it("2. point-in-time recovery: back to T, every row before T and none after, services running again", { skip: SKIP }, () => {
        psql("TRUNCATE backup_probe; INSERT INTO backup_probe (id, note) SELECT g, 'before backup' FROM generate_series(1, 1000) g");
        ok(["backup", "diff"]);
        psql("INSERT INTO backup_probe (id, note) SELECT g, 'after backup, before T' FROM generate_series(1001, 1500) g");
        run("sleep", ["2"]);
        const target = psql("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
        run("sleep", ["2"]);
        psql("INSERT INTO backup_probe (id, note) SELECT g, 'after T' FROM generate_series(1501, 1700) g");
        psql("DROP TABLE backup_probe");

        // Outside the window: refused with the window named, nothing touched.
        const early = operator(["restore", "--target", "2001-01-01 00:00:00+00", "--yes"]);
        assert.equal(early.status, 3, explain(early));
        assert.match(early.stderr, /outside the recoverable window of repo2: from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00 to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00; nothing was changed/);
        assert.equal(backendState(), "running");

        const restore = ok(["restore", "--target", target, "--yes"]);
        assert.match(restore, /1\/4 stopping the services/);
        assert.match(restore, /2\/4 keeping the current data aside as (before-restore-\d{14})/);
        assert.equal(psql("SELECT count(*) FROM backup_probe"), "1500");
        assert.equal(psql("SELECT count(*) FROM backup_probe WHERE note = 'after T'"), "0");
        assert.equal(backendState(), "running", "backend");
        for (const service of ["supertokens", "pgbouncer", "backup"]) {
            assert.equal(docker(["inspect", "-f", "{{.State.Running}}", `${PREFIX}-${service}`]), "true", service);
        }
        // The data from before is kept until the operator discards it.
        const aside = /keeping the current data aside as (before-restore-\d{14})/.exec(restore)?.[1] ?? "";
        assert.match(ok(["aside", "list"]), new RegExp(aside));
        ok(["aside", "discard", aside, "--yes"]);
        assert.doesNotMatch(ok(["aside", "list"]), new RegExp(aside));
    });

    it("3. a drill passes on a good backup, and says so three ways: exit 0, a log line, a metric", { skip: SKIP }, () => {
        const out = ok(["drill"]);
        assert.match(out, /restore drill PASSED in \d+ s: repo2 restored to drill-\d{14}-<database>; app supertokens equal to the live database at those points/);
        assert.equal(metric("restore_drill.prom", "byte_runner_restore_drill_last_status"), 1);
        assert.ok((metric("restore_drill.prom", "byte_runner_restore_drill_last_success_timestamp_seconds") ?? 0) > Date.now() / 1000 - 600);
    });

    it("4. a drill fails, visibly, when bytes of a backup file in the repository are flipped", { skip: SKIP }, () => {
        // The newest full backup's largest file in the local repository, one byte flipped in its middle.
        const repo = docker(["volume", "inspect", "-f", "{{.Mountpoint}}", `${PREFIX}-pgbackrest`]);
        const label = backupsByRepo()[1].at(-1) ?? "";
        const files = run("find", [path.join(repo, "backup", "main", label, "pg_data"), "-type", "f", "-size", "+8k"]).stdout.trim().split("\n").filter(Boolean);
        assert.ok(files.length > 0, "no backup file to damage");
        const victim = files.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0];
        const bytes = fs.readFileSync(victim);
        const original = Buffer.from(bytes);
        bytes[Math.floor(bytes.length / 2)] ^= 0xff;
        fs.writeFileSync(victim, bytes);
        try {
            const r = operator(["drill"]);
            assert.notEqual(r.status, 0, "the drill passed on a damaged repository");
            assert.match(r.stderr, /restore drill FAILED: pgbackrest verify found damaged or missing files in repo1/);
            assert.equal(metric("restore_drill.prom", "byte_runner_restore_drill_last_status"), 0);
        } finally {
            fs.writeFileSync(victim, original);
        }
    });

    it("5. a drill fails the same way when the offsite store cannot be reached", { skip: SKIP }, () => {
        // No backup job may be running (the scheduler's catch-up): the drill would wait for it.
        for (let i = 0; i < 120 && run("docker", ["exec", BACKUP, "flock", "-n", "/tmp/byte-runner-backup.lock", "true"]).status !== 0; i++) run("sleep", ["2"]);
        const stop = run("bash", ["tools/local-vps/s3.sh", "stop"]);
        assert.equal(stop.status, 0, explain(stop));
        try {
            const r = operator(["drill"]);
            assert.notEqual(r.status, 0, "the drill passed without its offsite repository");
            assert.match(r.stderr, /restore drill FAILED: repo2 cannot be reached or read/);
            assert.equal(metric("restore_drill.prom", "byte_runner_restore_drill_last_status"), 0);
        } finally {
            const start = run("bash", ["tools/local-vps/s3.sh", "start"]);
            assert.equal(start.status, 0, explain(start));
        }
    });

    it("6. retention: after N+1 full backups the oldest is gone from both repositories", { skip: SKIP }, () => {
        config(["set", "backupLocalRetentionFull", "2"]);
        config(["set", "backupOffsiteRetentionFull", "2"]);
        try {
            up();
            const first = backupsByRepo();
            for (let i = 0; i < 3; i++) ok(["backup", "full"]);
            const after = backupsByRepo();
            for (const repo of [1, 2]) {
                assert.equal(after[repo].length, 2, `repo${repo}: ${after[repo].join(", ")}`);
                for (const old of first[repo]) assert.ok(!after[repo].includes(old), `repo${repo} still holds ${old}`);
            }
        } finally {
            config(["rm", "backupLocalRetentionFull"]);
            config(["rm", "backupOffsiteRetentionFull"]);
        }
    });

    it("7. the passphrase, the S3 keys and the database passwords are in no log, no command line, and not in clear in the state", { skip: SKIP }, () => {
        const outputs = JSON.parse(pulumi(["stack", "output", ...STACK, "--show-secrets", "--json"]).stdout) as Record<string, string>;
        const secrets: Record<string, string> = {
            passphrase: outputs.backupPassphrase,
            "S3 access key": fs.readFileSync(path.join(REPO, ".state/s3/access-key"), "utf8").trim(),
            "S3 secret key": fs.readFileSync(path.join(REPO, ".state/s3/secret-key"), "utf8").trim(),
            "app password": new URL(outputs.databaseUrl).password,
        };
        // Every process's command line, read ten times a second while a backup and a drill run.
        const sampled = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "byte-runner-ps-")), "ps.txt");
        const sampler = spawn("bash", ["-c", `while :; do ps -eo args >>'${sampled}'; sleep 0.1; done`], { stdio: "ignore" });
        let backup: Run;
        try {
            backup = operator(["backup", "diff"]);
            assert.equal(backup.status, 0, explain(backup));
        } finally {
            sampler.kill();
        }
        const during = { stdout: fs.readFileSync(sampled, "utf8") };
        assert.match(during.stdout, /pgbackrest/, "the sampler saw no pgbackrest process");
        const exported = pulumi(["stack", "export", ...STACK.slice(0, 2)]).stdout;
        const logs = ["postgres", "backup"].map((s) => {
            const r = run("docker", ["logs", `${PREFIX}-${s}`]);
            return r.stdout + r.stderr;
        });
        for (const [what, value] of Object.entries(secrets)) {
            assert.ok(value && value.length >= 16, `${what} not found`);
            assert.ok(!exported.includes(value), `${what} is in the state in clear`);
            for (const log of logs) assert.ok(!log.includes(value), `${what} is in a container log`);
            assert.ok(!during.stdout.includes(value), `${what} is on a command line`);
            assert.ok(!(backup.stdout + backup.stderr).includes(value), `${what} is in the command's output`);
        }
    });

    it("8. disaster: Postgres, its volume and the local repository gone; pulumi up and the offsite repository alone bring the data back", { skip: SKIP }, () => {
        psql("CREATE TABLE IF NOT EXISTS disaster_probe AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 5000) g");
        // Everything committed is archived (the runbook's last step before a planned move; a
        // real disaster loses at most backupArchiveTimeoutSeconds).
        docker(["exec", "-u", "postgres", `${PREFIX}-postgres`, "pgbackrest", `--config=/var/lib/byte-runner/${PREFIX}/backup/pgbackrest.conf`, "--stanza=main", "check"]);
        const before = fingerprint();
        assert.match(before, /public\.disaster_probe 5000:/);

        docker(["rm", "-f", `${PREFIX}-postgres`, BACKUP]);
        docker(["volume", "rm", `${PREFIX}-pgdata`, `${PREFIX}-pgbackrest`]);
        up(["--refresh"]);
        assert.equal(psql("SELECT count(*) FROM pg_tables WHERE tablename = 'disaster_probe'"), "0", "pulumi up made an empty database");

        const restore = ok(["restore", "--repo", "2", "--yes"]);
        assert.match(restore, /restoring from repo2 to the end of the archive/);
        assert.equal(fingerprint(), before);
        // The local repository is rebuilt: a new full backup lands there.
        for (let i = 0; i < 60 && backupsByRepo()[1].length === 0; i++) run("sleep", ["2"]);
        assert.ok(backupsByRepo()[1].length >= 1, "no backup in the new local repository");
        up(["--expect-no-changes"]);
    });
});
