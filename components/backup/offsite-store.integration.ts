// The offsite backup repository against a real S3-compatible server: Debian's pgBackRest
// 2.45 and a throwaway PostgreSQL 15 cluster, with the versitygw server that
// tools/local-vps/s3.sh builds and starts (TLS, a private CA, path-style URLs, region
// "auto" as Cloudflare R2). What is proved: an encrypted S3 repository takes the stanza,
// the WAL that archive_command pushes and a full backup; a restore from it into a new data
// directory holds every row, those written after the backup included (they come back
// through the archived WAL); the passphrase and the keys never appear on a command line;
// and a server certificate the client does not trust, or one that does not name what it
// connects to, makes pgBackRest fail.
//
// pgBackRest and the cluster resolve the endpoint's name (S3_ENDPOINT) to S3_ADDRESS the
// way a container given a hosts entry does: they run in a mount namespace of their own where
// /etc/hosts is a file of this suite's (the machine's own is not touched). pgBackRest
// checks the certificate against the name it connects to, and only against DNS names, so
// repo-storage-host=<address> cannot pass. The server stays up afterwards, as the local
// VPS's sshd and Docker engine do: the local stack uses it (`s3.sh stop` ends it).
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { allowedSkip, missingError } from "../../tests/skip";
import { allCommandLines, type Cluster, removeDir, repoRoot, type RunResult, scratchDir, startCluster } from "../migration/pg-migrate.harness";

const s3Script = join(repoRoot, "tools", "local-vps", "s3.sh");
/** Runs "$@" with FILE ($0) mounted over /etc/hosts, in a mount namespace of its own. */
const withHostsFile = 'mount --bind "$0" /etc/hosts && exec "$@"';
/** A command prefix: run in a private mount namespace where HOSTS_FILE is /etc/hosts. */
const inNamespace = (hostsFile: string) => ["unshare", "--mount", "bash", "-c", withHostsFile, hostsFile];
const stanza = "offsite";
const rowsBeforeBackup = 20_000;
const rowsAfterBackup = 5_000;

/** What this machine lacks to run the suite, or undefined when it has everything. */
function missingForSuite(): string | undefined {
    const has = (program: string) => spawnSync("sh", ["-c", `command -v ${program}`]).status === 0;
    for (const [program, pkg] of [
        ["pgbackrest", "pgbackrest"],
        ["openssl", "openssl"],
        ["curl", "curl"],
        ["runuser", "util-linux"],
        ["unshare", "util-linux"],
    ]) {
        if (!has(program)) return `${program} is not installed (apt-get install ${pkg})`;
    }
    if (!existsSync("/usr/lib/postgresql/15/bin/initdb")) return "PostgreSQL 15 is not installed (apt-get install postgresql-15)";
    if (process.getuid?.() !== 0) return "this suite runs as root (a mount namespace per command, PostgreSQL as the postgres user)";
    const builtServer = join(process.env.BYTE_RUNNER_CACHE || join(homedir(), ".cache", "byte-runner-infra"), "s3", "bin", "versitygw");
    if (!existsSync(builtServer) && !has("go")) return "go is not installed and versitygw is not built yet (tools/local-vps/s3.sh build needs Go 1.22+)";
    return undefined;
}

function s3(...args: string[]): SpawnSyncReturns<string> {
    return spawnSync("bash", [s3Script, ...args], { encoding: "utf8" });
}

/** `s3.sh env` as a map (its lines are NAME='value'). */
function s3Env(): Record<string, string> {
    const result = s3("env");
    assert.equal(result.status, 0, result.stderr);
    const env: Record<string, string> = {};
    for (const line of result.stdout.trim().split("\n")) {
        const match = /^(S3_\w+)='([^']*)'$/.exec(line);
        assert.ok(match, `s3.sh env printed an unexpected line: ${line}`);
        env[match[1]] = match[2];
    }
    return env;
}

function postgresIds(): { uid: number; gid: number } {
    const id = (flag: string) => Number(spawnSync("id", [flag, "postgres"], { encoding: "utf8" }).stdout.trim());
    return { uid: id("-u"), gid: id("-g") };
}


describe("pgBackRest's encrypted offsite repository on a real S3-compatible server", { skip: allowedSkip(missingForSuite()), concurrency: false }, () => {
    let root: string;
    let source: Cluster | undefined;
    let restored: Cluster | undefined;
    let hostsFile: string;
    let server: Record<string, string>;
    let config: string;
    let untrustingConfig: string;
    let byAddressConfig: string;
    const repoPath = `/pgbackrest-test-${randomBytes(6).toString("hex")}`;
    const passphrase = randomBytes(24).toString("base64url");
    const seenCommandLines = new Set<string>();
    let watch: NodeJS.Timeout | undefined;

    /**
     * pgBackRest as the postgres OS user (as on the VPS: archive_command runs as the server's
     * user); asynchronous, so that the command-line watcher runs meanwhile.
     */
    function pgbackrest(configFile: string, ...args: string[]): Promise<RunResult> {
        const command = ["runuser", "-u", "postgres", "--", "pgbackrest", `--config=${configFile}`, `--stanza=${stanza}`, ...args];
        const child = spawn("unshare", ["--mount", "bash", "-c", withHostsFile, hostsFile, ...command], { timeout: 60_000 });
        return new Promise((resolve, reject) => {
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (chunk) => (stdout += chunk));
            child.stderr.on("data", (chunk) => (stderr += chunk));
            child.on("error", reject);
            child.on("close", (status) => resolve({ status, stdout, stderr }));
        });
    }

    function mustSucceed(result: RunResult, what: string): string {
        assert.equal(result.status, 0, `${what} failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
        return result.stdout;
    }

    /** A pgBackRest config file, 0600 and owned by postgres: the only place the secrets are written. */
    function writeConfig(file: string, options: Record<string, string>): void {
        const lines = ["[global]", ...Object.entries(options).map(([key, value]) => `${key}=${value}`), "", `[${stanza}]`, `pg1-path=${join(root, "source", "data")}`, `pg1-socket-path=${join(root, "source")}`, ""];
        writeFileSync(file, lines.join("\n"), { mode: 0o600 });
        const { uid, gid } = postgresIds();
        chownSync(file, uid, gid);
    }

    before(() => {
        const missing = missingForSuite();
        if (missing) throw missingError(`the offsite backup suite cannot run: ${missing}`);
        watch = setInterval(() => allCommandLines().forEach((line) => seenCommandLines.add(line)), 20);

        const started = s3("start");
        assert.equal(started.status, 0, `s3.sh start failed:\n${started.stdout}${started.stderr}`);
        server = s3Env();

        root = scratchDir("offsite-store-test-");
        // What a container on the VPS gets as a hosts entry; the rest of the machine's file kept.
        hostsFile = join(root, "hosts");
        writeFileSync(hostsFile, `${readFileSync("/etc/hosts", "utf8")}\n${server.S3_ADDRESS} ${server.S3_ENDPOINT}\n`);
        mkdirSync(join(root, "lock"));
        const { uid, gid } = postgresIds();
        chownSync(join(root, "lock"), uid, gid);
        // The CA lives in the root-only state directory; pgBackRest runs as postgres.
        const caFile = join(root, "s3-ca.crt");
        copyFileSync(server.S3_CA_FILE, caFile);

        const common: Record<string, string> = {
            "repo1-type": "s3",
            "repo1-path": repoPath,
            "repo1-s3-bucket": server.S3_BUCKET,
            "repo1-s3-endpoint": server.S3_ENDPOINT,
            "repo1-s3-region": server.S3_REGION,
            "repo1-s3-uri-style": "path",
            "repo1-s3-key": readFileSync(server.S3_ACCESS_KEY_FILE, "utf8").trim(),
            "repo1-s3-key-secret": readFileSync(server.S3_SECRET_KEY_FILE, "utf8").trim(),
            "repo1-storage-port": server.S3_PORT,
            "repo1-cipher-type": "aes-256-cbc",
            "repo1-cipher-pass": passphrase,
            "repo1-retention-full": "1",
            "compress-type": "lz4",
            "start-fast": "y",
            "lock-path": join(root, "lock"),
            "log-level-console": "warn",
            "log-level-stderr": "warn",
            "log-level-file": "off",
            // pgBackRest retries a failed connection until this runs out (60 s by default).
            "io-timeout": "5",
        };
        config = join(root, "pgbackrest.conf");
        writeConfig(config, { ...common, "repo1-storage-ca-file": caFile });
        // The same repository without the CA: the system's trust store does not know it.
        untrustingConfig = join(root, "pgbackrest-untrusting.conf");
        writeConfig(untrustingConfig, common);
        // The CA given, but connecting to the address: the certificate names no address.
        byAddressConfig = join(root, "pgbackrest-by-address.conf");
        writeConfig(byAddressConfig, { ...common, "repo1-storage-ca-file": caFile, "repo1-storage-host": server.S3_ADDRESS });

        // A cluster that archives its WAL into the repository, as the VPS's will.
        source = startCluster(join(root, "source"), inNamespace(hostsFile));
        source.psql("postgres", "ALTER SYSTEM SET archive_mode = 'on'");
        source.psql("postgres", `ALTER SYSTEM SET archive_command = 'pgbackrest --config=${config} --stanza=${stanza} archive-push %p'`);
        source.stop();
        source = startCluster(join(root, "source"), inNamespace(hostsFile));
        source.psql("postgres", "CREATE TABLE backup_probe (id bigint PRIMARY KEY, payload text NOT NULL)");
        source.psql("postgres", `INSERT INTO backup_probe SELECT i, md5(i::text) FROM generate_series(1, ${rowsBeforeBackup}) i`);
    });

    after(async () => {
        if (watch) clearInterval(watch);
        restored?.stop();
        source?.stop();
        // The repository's objects go with the stanza; the bucket stays for the next run.
        if (config && existsSync(config)) {
            await pgbackrest(config, "stop");
            const deleted = await pgbackrest(config, "stanza-delete", "--force");
            if (deleted.status !== 0) console.error(`stanza-delete left ${repoPath} in the bucket: ${deleted.stderr}`);
        }
        if (root) removeDir(root);
    });

    test("s3.sh env names the server, and prints no key unless asked", () => {
        assert.equal(server.S3_ENDPOINT, "s3.byte-runner.test");
        assert.equal(server.S3_PORT, "9443");
        assert.equal(server.S3_REGION, "auto");
        assert.match(server.S3_ADDRESS, /^\d+\.\d+\.\d+\.\d+$/);
        assert.notEqual(server.S3_ADDRESS, "127.0.0.1");
        const plain = s3("env").stdout;
        const secret = readFileSync(server.S3_SECRET_KEY_FILE, "utf8").trim();
        assert.ok(!plain.includes(secret), "the secret key is not on stdout without --secrets");
        assert.ok(s3("env", "--secrets").stdout.includes(`S3_SECRET_KEY='${secret}'`));
        assert.equal(s3("start").status, 0, "a second start is harmless");
    });

    test("stanza-create and check: the stanza is made and archive_command pushes WAL to the S3 repository", async () => {
        mustSucceed(await pgbackrest(config, `--pg1-port=${source!.port}`, "stanza-create"), "stanza-create");
        // check forces a WAL switch and waits until that segment is in the repository.
        mustSucceed(await pgbackrest(config, `--pg1-port=${source!.port}`, "check"), "check");
    });

    test("a full backup lands in the repository, encrypted before it leaves the host", async () => {
        mustSucceed(await pgbackrest(config, `--pg1-port=${source!.port}`, "--type=full", "backup"), "backup");
        const info = JSON.parse(mustSucceed(await pgbackrest(config, "--output=json", "info"), "info"));
        assert.equal(info[0].status.message, "ok");
        assert.equal(info[0].backup.length, 1);
        assert.equal(info[0].backup[0].type, "full");
        assert.equal(info[0].cipher, "aes-256-cbc");

        // The object as the server stores it: OpenSSL's salted format, no readable ini inside.
        const fetched = spawnSync(
            "curl",
            [
                "--config",
                "-",
                "--silent",
                "--show-error",
                "--fail",
                "--cacert",
                server.S3_CA_FILE,
                "--resolve",
                `${server.S3_ENDPOINT}:${server.S3_PORT}:${server.S3_ADDRESS}`,
                "--aws-sigv4",
                `aws:amz:${server.S3_REGION}:s3`,
                "-H",
                "x-amz-content-sha256: UNSIGNED-PAYLOAD",
                `https://${server.S3_ENDPOINT}:${server.S3_PORT}/${server.S3_BUCKET}${repoPath}/backup/${stanza}/backup.info`,
            ],
            {
                input: `user = "${readFileSync(server.S3_ACCESS_KEY_FILE, "utf8").trim()}:${readFileSync(server.S3_SECRET_KEY_FILE, "utf8").trim()}"\n`,
                maxBuffer: 16 * 1024 * 1024,
            },
        );
        assert.equal(fetched.status, 0, fetched.stderr.toString());
        assert.equal(fetched.stdout.subarray(0, 8).toString("latin1"), "Salted__");
        assert.ok(!fetched.stdout.includes("[backrest]"));
    });

    test("WAL written after the backup is archived through archive_command", async () => {
        source!.psql("postgres", `INSERT INTO backup_probe SELECT i, md5(i::text) FROM generate_series(${rowsBeforeBackup + 1}, ${rowsBeforeBackup + rowsAfterBackup}) i`);
        const segment = source!.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
        const deadline = Date.now() + 20_000;
        let archived = "";
        while (Date.now() < deadline) {
            archived = source!.psql("postgres", "SELECT coalesce(last_archived_wal, '') || '|' || failed_count FROM pg_stat_archiver");
            if (archived.split("|")[0] >= segment) break;
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.ok(archived.split("|")[0] >= segment, `segment ${segment} archived (pg_stat_archiver: ${archived})`);
        assert.equal(archived.split("|")[1], "0", "archive_command never failed");
    });

    test("a restore from the S3 repository into a new data directory has every row", async () => {
        const restoreDir = join(root, "restored");
        mkdirSync(join(restoreDir, "data"), { recursive: true, mode: 0o700 });
        const { uid, gid } = postgresIds();
        chownSync(restoreDir, uid, gid);
        chownSync(join(restoreDir, "data"), uid, gid);
        // Archiving off on the copy: it must not push its own WAL into the source's repository.
        mustSucceed(await pgbackrest(config, `--pg1-path=${join(restoreDir, "data")}`, "--archive-mode=off", "restore"), "restore");
        restored = startCluster(restoreDir, inNamespace(hostsFile));
        // Recovery replays the archived WAL (fetched by restore_command from the repository), then promotes.
        const deadline = Date.now() + 30_000;
        while (restored.psql("postgres", "SELECT pg_is_in_recovery()") === "t" && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 200));
        }
        assert.equal(restored.psql("postgres", "SELECT pg_is_in_recovery()"), "f", "recovery finished and the copy was promoted");
        const expected = String(rowsBeforeBackup + rowsAfterBackup);
        assert.equal(source!.psql("postgres", "SELECT count(*) FROM backup_probe"), expected);
        assert.equal(restored.psql("postgres", "SELECT count(*) FROM backup_probe"), expected);
        const fingerprint = "SELECT count(*) || ':' || sum(hashtext(t::text)) FROM backup_probe t";
        assert.equal(restored.psql("postgres", fingerprint), source!.psql("postgres", fingerprint));
        assert.equal(restored.psql("postgres", "SHOW archive_mode"), "off");
    });

    test("a server certificate the client does not trust makes pgBackRest fail", async () => {
        const result = await pgbackrest(untrustingConfig, "repo-ls");
        assert.notEqual(result.status, 0, `pgBackRest trusted a certificate from a CA it was not given:\n${result.stdout}`);
        assert.match(result.stderr, /unable to verify certificate presented by 's3\.byte-runner\.test:9443'/);
    });

    test("connecting to the address instead of the name fails the name check, CA or not", async () => {
        const result = await pgbackrest(byAddressConfig, "repo-ls");
        assert.notEqual(result.status, 0, `pgBackRest accepted a certificate that does not name ${server.S3_ADDRESS}:\n${result.stdout}`);
        assert.match(result.stderr, /unable to find hostname '[\d.]+' in certificate common name or subject alternative names/);
    });

    test("the passphrase and the S3 keys never appeared on a command line", () => {
        assert.ok([...seenCommandLines].some((line) => line.includes("pgbackrest")), "the watcher saw pgBackRest run");
        const secrets = [passphrase, readFileSync(server.S3_SECRET_KEY_FILE, "utf8").trim(), readFileSync(server.S3_ACCESS_KEY_FILE, "utf8").trim()];
        for (const line of seenCommandLines) {
            for (const secret of secrets) assert.ok(!line.includes(secret), `a secret on a command line: ${line.replace(secret, "<secret>")}`);
        }
    });
});
