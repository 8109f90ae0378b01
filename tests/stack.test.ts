// The whole resource graph of each committed stack, offline: what a reviewer checks by
// reading `npm run graph -- <stack>`, asserted.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { isPinnedImage } from "../config";
import { APP_ENV_VARS } from "../components/app/env";
import { buildGraph, committedConfig, Graph, GraphResource, SECRET } from "../tools/graph";
import { sha256 } from "../components/shared/naming";
import { SCRIPTS_DIR, shippedText } from "../components/shared/vps-script";

const CONTAINER = "docker:index/container:Container";
/** The apps: one container per release (components/app). */
const APPS = ["backend", "frontend"];
const COMMAND = "command:remote:Command";
/** Every script the stack runs on the VPS, by the upload that ships it (with a migration run configured). */
const SHIPPED: Record<string, string> = {
    "vps-upload-bootstrap-host.sh": "host/bootstrap-host.sh",
    "firewall-upload-firewall.sh": "firewall/firewall.sh",
    "postgres-upload-db-roles.sh": "postgres/db-roles.sh",
    "migration-upload-migration-step.sh": "migration/migration-step.sh",
    "migration-upload-pg-migrate": "migration/pg-migrate",
    "backup-upload-backup-image.sh": "backup/backup-image.sh",
    "backup-upload-backup.sh": "backup/backup.sh",
    "backup-upload-pg-migrate": "migration/pg-migrate",
    "backend-upload-release.sh": "app/release.sh",
    "frontend-upload-release.sh": "app/release.sh",
};
/** The command resources that run each shipped script. */
const RUNS: Record<string, string[]> = {
    "vps-upload-bootstrap-host.sh": ["vps-bootstrap"],
    "firewall-upload-firewall.sh": ["firewall-apply"],
    "postgres-upload-db-roles.sh": ["postgres-roles"],
    "migration-upload-migration-step.sh": ["migration-dump", "migration-restore", "migration-verify", "migration-auth-dump", "migration-auth-restore", "migration-auth-verify"],
    "migration-upload-pg-migrate": ["migration-dump", "migration-restore", "migration-verify", "migration-auth-dump", "migration-auth-restore", "migration-auth-verify"],
    "backup-upload-backup-image.sh": ["backup-image"],
    "backup-upload-backup.sh": ["backup-configure", "backup-stanza"],
    // The drill runs pg-migrate's fingerprint: configure stores its path for the scheduler.
    "backup-upload-pg-migrate": ["backup-configure"],
    "backend-upload-release.sh": ["backend-release"],
    "frontend-upload-release.sh": ["frontend-release"],
};

const expectations = {
    staging: { poolSize: 20, frontendHost: "staging.byte-runner.app", apiHost: "api-staging.byte-runner.app" },
    prod: { poolSize: 40, frontendHost: "byte-runner.app", apiHost: "api.byte-runner.app" },
} as const;

const containers = (g: Graph) => g.resources.filter((r) => r.type === CONTAINER);
const container = (g: Graph, name: string): GraphResource => {
    const c = containers(g).find((r) => r.name === name);
    assert.ok(c, `no container ${name}`);
    return c;
};
const envOf = (c: GraphResource): Record<string, string> =>
    Object.fromEntries((c.revealed.envs as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

for (const stack of ["staging", "prod"] as const) {
    describe(`stack ${stack}`, () => {
        let g: Graph;
        before(async () => {
            g = await buildGraph(stack);
        });

        it("has the expected services, each once", () => {
            assert.deepEqual(containers(g).map((c) => c.name).sort(), [
                "backend",
                "backup-scheduler",
                "frontend",
                "monitoring-alertmanager",
                "monitoring-blackbox-exporter",
                "monitoring-byte-runner-exporter",
                "monitoring-grafana",
                "monitoring-node-exporter",
                "monitoring-postgres-exporter",
                "monitoring-prometheus",
                "pooler",
                "postgres",
                "proxy",
                "supertokens",
            ]);
        });

        it("keeps the monitoring on its own network with no route out; only Alertmanager reaches out (to the receivers), and the UIs are reached by an SSH tunnel", () => {
            const networks = g.resources.filter((r) => r.type === "docker:index/network:Network");
            const byName = (name: string) => networks.find((n) => n.inputs.name === `byte-runner-${stack}-${name}`);
            assert.equal(byName("monitoring")?.inputs.internal, true);
            assert.notEqual(byName("notify")?.inputs.internal, true);
            const attached = (c: GraphResource) => (c.inputs.networksAdvanced as { name: string }[]).map((n) => n.name.replace(`byte-runner-${stack}-`, "")).sort();
            for (const c of containers(g).filter((r) => r.parent === "monitoring")) {
                assert.deepEqual(c.inputs.ports ?? [], [], `${c.name} publishes a port`);
                const expected = { "monitoring-alertmanager": ["monitoring", "notify"], "monitoring-postgres-exporter": ["internal", "monitoring"], "monitoring-byte-runner-exporter": ["internal", "monitoring"] }[
                    c.name
                ] ?? ["monitoring"];
                assert.deepEqual(attached(c), expected, c.name);
            }
            assert.deepEqual(attached(container(g, "proxy")), ["edge", "monitoring"]);
            assert.match(String(g.outputs.monitoringTunnel), /^ssh -p 22 -N -L 3000:\S+:3000 -L 9090:\S+:9090 -L 9093:\S+:9093 /);
        });

        it("pins every image (a tag that is not latest, or a digest)", () => {
            const images = g.resources.filter((r) => r.type === "docker:index/remoteImage:RemoteImage");
            assert.equal(images.length, 13);
            for (const image of images) assert.ok(isPinnedImage(String(image.inputs.name)), `${image.name}: ${image.inputs.name}`);
            assert.match(String(g.resources.find((r) => r.name === "supertokens-image")?.inputs.name), /^registry\.supertokens\.io\/supertokens\/supertokens-postgresql:\d+\.\d+\.\d+$/);
        });

        it("publishes ports from the proxy only, and only 80 and 443", () => {
            for (const c of containers(g)) {
                const ports = (c.inputs.ports as { external: number }[] | undefined) ?? [];
                if (c.name === "proxy") assert.deepEqual([...new Set(ports.map((p) => p.external))].sort(), [443, 80]);
                else assert.deepEqual(ports, [], `${c.name} publishes ports`);
            }
        });

        it("keeps PgBouncer and SuperTokens on the internal network only, which has no route out; Postgres and the backups also reach the offsite store", () => {
            const internal = g.resources.find((r) => r.name === "net-internal");
            assert.equal(internal?.inputs.internal, true);
            const egress = `byte-runner-${stack}-egress`;
            for (const name of ["pooler", "supertokens"]) {
                const nets = (container(g, name).inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
                assert.deepEqual(nets, [internal?.inputs.name], name);
            }
            // The way out to R2 (WAL archiving, backups): only the database and its scheduler, nothing published there.
            for (const name of ["postgres", "backup-scheduler"]) {
                const nets = (container(g, name).inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
                assert.deepEqual(nets, [internal?.inputs.name, egress], name);
            }
            const onEgress = containers(g).filter((c) => (c.inputs.networksAdvanced as { name: string }[]).some((n) => n.name === egress));
            assert.deepEqual(onEgress.map((c) => c.name).sort(), ["backup-scheduler", "postgres"]);
            const frontendNets = (container(g, "frontend").inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
            assert.deepEqual(frontendNets, [`byte-runner-${stack}-edge`]);
        });

        it("never shows a secret value in a plain field", () => {
            assert.ok(g.secretValues.length >= 6, "expected the generated passwords, the API key and the SSH key");
            const plainText = JSON.stringify(g.resources.map((r) => r.inputs));
            for (const secret of g.secretValues) assert.ok(!plainText.includes(secret), `a secret appears in clear: ${secret.slice(0, 12)}...`);
            for (const name of ["backend", "supertokens", "postgres"]) assert.equal(container(g, name).inputs.envs, SECRET, `${name} env`);
            const userlist = (container(g, "pooler").inputs.uploads as { file: string; content: string }[]).find((u) => u.file.endsWith("userlist.txt"));
            assert.equal(userlist?.content, SECRET);
            assert.equal(g.resources.find((r) => r.name === "postgres-roles")?.inputs.stdin, SECRET);
        });

        it(`sets the pool size of ${stack} (${expectations[stack].poolSize}) in PgBouncer and the backend`, () => {
            const ini = (container(g, "pooler").inputs.uploads as { file: string; content: string }[]).find((u) => u.file.endsWith("pgbouncer.ini"));
            assert.match(String(ini?.content), new RegExp(`^default_pool_size = ${expectations[stack].poolSize}$`, "m"));
            assert.match(String(ini?.content), /^pool_mode = transaction$/m);
            assert.equal(envOf(container(g, "backend")).DB_POOL_SIZE, String(expectations[stack].poolSize));
        });

        it("lets PgBouncer hold its max_client_conn clients and named prepared statements (its image is 1.21 or later)", () => {
            const pooler = container(g, "pooler");
            const ini = String((pooler.inputs.uploads as { file: string; content: string }[]).find((u) => u.file.endsWith("pgbouncer.ini"))?.content);
            const maxClientConn = Number(/^max_client_conn = (\d+)$/m.exec(ini)?.[1]);
            assert.equal(maxClientConn, 1500);
            const [nofile] = pooler.inputs.ulimits as { name: string; soft: number; hard: number }[];
            assert.equal(nofile.name, "nofile");
            assert.ok(nofile.soft > maxClientConn && nofile.hard === nofile.soft, `open files ${nofile.soft} must exceed max_client_conn ${maxClientConn}`);
            assert.match(ini, /^max_prepared_statements = 200$/m);
            assert.match(ini, /^query_wait_timeout = 30$/m);
        });

        it("wires the backend: pooled DATABASE_URL, direct DIRECT_DATABASE_URL, the auth core, and every documented variable", () => {
            const env = envOf(container(g, "backend"));
            assert.match(env.DATABASE_URL, /^postgresql:\/\/app:[^@]+@pgbouncer:6432\/app$/);
            assert.match(env.DIRECT_DATABASE_URL, /^postgresql:\/\/app:[^@]+@postgres:5432\/app$/);
            assert.equal(env.SUPERTOKENS_CONNECTION_URI, "http://supertokens:3567");
            assert.match(env.SUPERTOKENS_API_KEY, /^[0-9a-f]{64}$/);
            assert.equal(env.NODE_ENV, "production");
            const documented = APP_ENV_VARS.filter((v) => v.service === "backend" && v.name !== "SENTRY_DSN").map((v) => v.name).sort();
            assert.deepEqual(Object.keys(env).sort(), documented);
            const frontendEnv = Object.keys(envOf(container(g, "frontend"))).sort();
            assert.deepEqual(frontendEnv, APP_ENV_VARS.filter((v) => v.service === "frontend").map((v) => v.name).sort());
        });

        it("gives SuperTokens a postgresql:// URI to its own database and a hex API key", () => {
            const env = envOf(container(g, "supertokens"));
            assert.match(env.POSTGRESQL_CONNECTION_URI, /^postgresql:\/\/supertokens:[^@]+@postgres:5432\/supertokens$/);
            assert.match(env.API_KEYS, /^[0-9a-f]{64}$/);
        });

        it("gives every container a healthcheck, a restart policy and limits", () => {
            for (const c of containers(g)) {
                const hc = c.inputs.healthcheck as { tests: string[] };
                assert.ok(hc.tests.length >= 2 && ["CMD", "CMD-SHELL"].includes(hc.tests[0]), `${c.name} healthcheck`);
                assert.equal(c.inputs.restart, "unless-stopped");
                assert.ok(Number(c.inputs.memory) > 0 && Number(c.inputs.cpus) > 0, `${c.name} limits`);
                if (APPS.includes(c.name)) {
                    // One container per release: the new one beside the old, which the release retires.
                    assert.equal(c.deleteBeforeReplace, false, `${c.name} deleteBeforeReplace`);
                    assert.equal(c.retainOnDelete, true, `${c.name} retainOnDelete`);
                } else {
                    // Named containers: a replacement must remove the old one first or the name clashes.
                    assert.equal(c.deleteBeforeReplace, true, `${c.name} deleteBeforeReplace`);
                }
            }
            assert.match(JSON.stringify(container(g, "postgres").inputs.healthcheck), /pg_isready/);
            assert.match(JSON.stringify(container(g, "supertokens").inputs.healthcheck), /\/hello/);
        });

        it("keeps the data volumes when the stack is destroyed", () => {
            const volumes = g.resources.filter((r) => r.type === "docker:index/volume:Volume");
            // The server's socket directory is the one volume without data in it.
            assert.deepEqual(volumes.map((v) => v.name).sort(), [
                "backup-repo",
                "backup-socket",
                "monitoring-alertmanager-data",
                "monitoring-grafana-data",
                "monitoring-prometheus-data",
                "postgres-data",
                "proxy-data",
            ]);
            for (const v of volumes) assert.equal(v.retainOnDelete, v.name !== "backup-socket", v.name);
            const mounts = container(g, "postgres").inputs.volumes as { volumeName?: string; hostPath?: string; containerPath: string; readOnly?: boolean }[];
            assert.deepEqual(mounts, [
                { volumeName: `byte-runner-${stack}-pgdata`, containerPath: "/var/lib/postgresql/data" },
                { volumeName: `byte-runner-${stack}-pgbackrest`, containerPath: "/var/lib/pgbackrest" },
                { volumeName: `byte-runner-${stack}-pgsocket`, containerPath: "/var/run/postgresql" },
                { hostPath: `/var/lib/byte-runner/byte-runner-${stack}/backup`, containerPath: `/var/lib/byte-runner/byte-runner-${stack}/backup`, readOnly: true },
            ]);
        });

        it("archives WAL with pgBackRest within backupArchiveTimeoutSeconds, from an image built on the VPS", () => {
            const command = container(g, "postgres").inputs.command as string[];
            const setting = (name: string) => command.find((c) => c.startsWith(`${name}=`))?.slice(name.length + 1);
            assert.equal(setting("archive_mode"), "on");
            assert.equal(setting("archive_timeout"), "60s");
            assert.equal(setting("archive_command"), `pgbackrest --config=/var/lib/byte-runner/byte-runner-${stack}/backup/pgbackrest.conf --stanza=main archive-push %p`);
            const build = g.resources.find((r) => r.name === "backup-image");
            assert.match(String(build?.revealed.stdin), /^BASE_IMAGE=postgres:15\.\d+-bookworm$/m);
            const tag = /^IMAGE=(.+)$/m.exec(String(build?.revealed.stdin))?.[1];
            assert.match(String(tag), new RegExp(`^byte-runner-${stack}/postgres-pgbackrest:[0-9a-f]{16}$`));
            assert.equal(container(g, "postgres").inputs.image, tag);
            assert.equal(container(g, "backup-scheduler").inputs.image, tag);
        });

        it("schedules backups and drills in a scheduler container that reads the data read-only", () => {
            const scheduler = container(g, "backup-scheduler");
            assert.match(String((scheduler.inputs.command as string[]).join(" ")), new RegExp(`^bash -c exec bash ${SCRIPTS_DIR}/backup\\.sh-[0-9a-f]{16} scheduler <`));
            const mounts = scheduler.inputs.volumes as { volumeName?: string; containerPath: string; readOnly?: boolean }[];
            assert.deepEqual(
                mounts.find((m) => m.volumeName === `byte-runner-${stack}-pgdata`),
                { volumeName: `byte-runner-${stack}-pgdata`, containerPath: "/var/lib/postgresql/data", readOnly: true },
            );
            const stored = String(g.resources.find((r) => r.name === "backup-configure")?.revealed.stdin);
            for (const line of ["FULL_SCHEDULE=17 3 * * 0", "DIFF_SCHEDULE=17 3 * * 1-6", "DRILL_SCHEDULE=47 4 * * 3", "LOCAL_RETENTION_FULL=2", "OFFSITE=1", "OFFSITE_RETENTION_FULL=4", `OFFSITE_BUCKET=byte-runner-${stack}-backups`, "DATABASES=app supertokens"]) {
                assert.ok(stored.split("\n").includes(line), `backup settings lack ${line}`);
            }
            assert.match(stored, new RegExp(`^SERVICES=byte-runner-${stack}-backend byte-runner-${stack}-supertokens byte-runner-${stack}-pgbouncer$`, "m"));
            // The stanza runs again on a new Postgres container (a new volume).
            const stanza = g.resources.find((r) => r.name === "backup-stanza");
            assert.ok(stanza?.dependsOn.includes("postgres") && stanza.dependsOn.includes("backup-configure"));
            assert.ok(scheduler.dependsOn.includes("backup-stanza"));
        });

        it("keeps the passphrase and the offsite keys secret: only in the configure step's stdin", () => {
            const configure = g.resources.find((r) => r.name === "backup-configure");
            assert.equal(configure?.inputs.stdin, SECRET);
            const revealed = String(configure?.revealed.stdin);
            assert.match(revealed, /^CIPHER_PASS=\S{8,}$/m);
            assert.match(revealed, /^OFFSITE_KEY=placeholder-backupOffsiteAccessKeyId$/m);
            assert.match(revealed, /^OFFSITE_KEY_SECRET=placeholder-backupOffsiteSecretAccessKey$/m);
            // Every other step gets the stored settings only (uploads carry script text, which names the keys).
            for (const r of g.resources.filter((x) => x.type === COMMAND && x.name !== "backup-configure" && !x.name.includes("-upload-"))) {
                assert.doesNotMatch(String(r.revealed.stdin ?? ""), /^(CIPHER_PASS|OFFSITE_KEY)/m, r.name);
            }
        });

        it("creates no Docker resource before the host bootstrap has run", () => {
            const provider = g.resources.find((r) => r.type === "pulumi:providers:docker");
            assert.ok(provider);
            assert.ok(provider.dependsOn.includes("vps-bootstrap"));
            assert.match(String(provider.inputs.host), /^ssh:\/\//);
            assert.ok((provider.inputs.sshOpts as string[]).includes("StrictHostKeyChecking=yes"));
            const dockerResources = g.resources.filter((r) => r.type.startsWith("docker:"));
            assert.ok(dockerResources.length >= 14);
            for (const r of dockerResources) assert.equal(r.provider, provider.name, `${r.name} does not use the ssh:// provider`);
        });

        it("starts each container only after what it needs", () => {
            const deps = (name: string) => container(g, name).dependsOn;
            assert.ok(deps("pooler").includes("postgres-roles"), "pgbouncer before the roles exist");
            assert.ok(deps("supertokens").includes("postgres-roles"), "SuperTokens before its role exists");
            for (const needed of ["pooler", "supertokens"]) assert.ok(deps("backend").includes(needed), `backend before ${needed}`);
            for (const needed of ["backend", "frontend"]) assert.ok(deps("proxy").includes(needed), `proxy before ${needed}`);
        });

        it("routes each hostname through Caddy with security headers, to the upstream its app's release writes", () => {
            const caddyfile = String((container(g, "proxy").inputs.uploads as { content: string }[])[0].content);
            const { frontendHost, apiHost } = expectations[stack];
            assert.match(caddyfile, new RegExp(`^${frontendHost.replace(/\./g, "\\.")} \\{[^}]*import /etc/caddy/upstreams/frontend\\.caddy`, "m"));
            assert.match(caddyfile, new RegExp(`^${apiHost.replace(/\./g, "\\.")} \\{[^}]*import /etc/caddy/upstreams/backend\\.caddy`, "m"));
            assert.doesNotMatch(caddyfile, /reverse_proxy/, "a container name in the Caddyfile: a deploy would replace Caddy");
            for (const [app, port] of [["backend", 4000], ["frontend", 3000]] as const) {
                const release = g.resources.find((r) => r.name === `${app}-release`);
                const stdin = String(release?.revealed.stdin);
                assert.match(stdin, new RegExp(`^SERVICE=byte-runner-${stack}-${app}$`, "m"));
                assert.match(stdin, new RegExp(`^UPSTREAM=byte-runner-${stack}-${app}-[0-9a-f]{10}:${port}$`, "m"));
                assert.match(stdin, new RegExp(`^UPSTREAM_FILE=/var/lib/byte-runner/byte-runner-${stack}/upstreams/${app}\\.caddy$`, "m"));
                assert.ok(release?.dependsOn.includes(app), `${app}-release before its container`);
                assert.ok(container(g, "proxy").dependsOn.includes(`${app}-release`), `proxy before ${app}'s upstream file`);
            }
            assert.match(caddyfile, /Strict-Transport-Security "max-age=31536000; includeSubDomains"/);
            assert.equal(g.outputs.frontendUrl, `https://${frontendHost}`);
            assert.equal(g.outputs.apiUrl, `https://${apiHost}`);
        });

        it("ships every VPS script as a file with its hash as the trigger, and runs it from there, never as command-line text", async () => {
            const config = committedConfig(stack);
            Object.assign(config.values, { migrationRunId: "r1", migrationSourceDatabaseUrl: "postgresql://u:sourcepw0123456789@db.example.com:5432/postgres", migrationAuthSourceDatabaseUrl: "postgresql://u:authpw0123456789@db.example.com:5432/st" });
            config.secretKeys.push("migrationSourceDatabaseUrl", "migrationAuthSourceDatabaseUrl");
            const withMigration = await buildGraph(stack, config);
            const commands = withMigration.resources.filter((r) => r.type === COMMAND);
            const uploads = commands.filter((r) => r.name.includes("-upload-"));
            assert.deepEqual(uploads.map((u) => u.name).sort(), Object.keys(SHIPPED).sort());
            for (const upload of uploads) {
                const text = shippedText(SHIPPED[upload.name]);
                const hash = sha256(text);
                assert.equal(upload.revealed.stdin, text, `${upload.name} ships the script on stdin`);
                assert.deepEqual(upload.inputs.triggers, [hash], `${upload.name}: the hash is the trigger`);
                assert.equal(upload.inputs.delete, undefined, `${upload.name} must not delete a file commands in the state may still run`);
                const file = `${SCRIPTS_DIR}/${SHIPPED[upload.name].split("/")[1]}-${hash.slice(0, 16)}`;
                assert.ok(String(upload.inputs.create).includes(` ${file} ${hash} `), `${upload.name} writes ${file}`);
                for (const name of RUNS[upload.name]) {
                    const run = commands.find((r) => r.name === name);
                    assert.ok(run, `no ${name}`);
                    assert.ok(run.dependsOn.includes(upload.name), `${name} does not wait for ${upload.name}`);
                    assert.ok(`${run.revealed.create}\n${run.revealed.stdin}`.includes(file), `${name} does not run ${file}`);
                }
            }
            // The shared settings reader is inlined: no shipped script needs a second file.
            for (const upload of uploads.filter((u) => u.name.endsWith(".sh"))) assert.match(String(upload.revealed.stdin), /^settings_read\(\) \{$/m, upload.name);
            // Nothing but short command lines: no script text, no secret.
            for (const r of commands) {
                for (const field of ["create", "update", "delete"]) {
                    const line = r.revealed[field];
                    if (line === undefined) continue;
                    assert.ok(String(line).length < 2048, `${r.name}.${field} is ${String(line).length} characters: script text on a command line?`);
                    assert.doesNotMatch(String(line), /sourcepw|authpw|mockpw/, `${r.name}.${field} carries a secret`);
                }
            }
        });

        it("with a non-root SSH user, uploads and runs every script through sudo -n", async () => {
            const config = committedConfig(stack);
            config.values.hostSshUser = "deploy";
            const g = await buildGraph(stack, config);
            const commands = g.resources.filter((r) => r.type === COMMAND);
            assert.ok(commands.length >= 6);
            for (const r of commands) assert.match(String(r.revealed.create), /^sudo -n /, r.name);
        });

        it("parents every resource under a byte-runner component or the stack", () => {
            const components = new Set(g.resources.filter((r) => r.type.startsWith("byte-runner:")).map((r) => r.name));
            for (const r of g.resources) {
                if (r.type === "pulumi:pulumi:Stack") continue;
                if (r.type.startsWith("byte-runner:")) assert.equal(r.parent, `byte-runner-infra-${stack}`, r.name);
                else assert.ok(r.parent !== null && components.has(r.parent), `${r.name} has parent ${r.parent}`);
            }
        });
    });
}
