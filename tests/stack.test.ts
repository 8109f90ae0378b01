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
const COMMAND = "command:remote:Command";
/** Every script the stack runs on the VPS, by the upload that ships it (with a migration run configured). */
const SHIPPED: Record<string, string> = {
    "vps-upload-bootstrap-host.sh": "host/bootstrap-host.sh",
    "firewall-upload-firewall.sh": "firewall/firewall.sh",
    "postgres-upload-db-roles.sh": "postgres/db-roles.sh",
    "migration-upload-migration-step.sh": "migration/migration-step.sh",
    "migration-upload-pg-migrate": "migration/pg-migrate",
};
/** The command resources that run each shipped script. */
const RUNS: Record<string, string[]> = {
    "vps-upload-bootstrap-host.sh": ["vps-bootstrap"],
    "firewall-upload-firewall.sh": ["firewall-apply"],
    "postgres-upload-db-roles.sh": ["postgres-roles"],
    "migration-upload-migration-step.sh": ["migration-dump", "migration-restore", "migration-verify", "migration-auth-dump", "migration-auth-restore", "migration-auth-verify"],
    "migration-upload-pg-migrate": ["migration-dump", "migration-restore", "migration-verify", "migration-auth-dump", "migration-auth-restore", "migration-auth-verify"],
};

const expectations = {
    staging: { poolSize: 10, frontendHost: "staging.byte-runner.app", apiHost: "api-staging.byte-runner.app" },
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
            assert.deepEqual(containers(g).map((c) => c.name).sort(), ["backend", "frontend", "pooler", "postgres", "proxy", "supertokens"]);
        });

        it("pins every image (a tag that is not latest, or a digest)", () => {
            const images = g.resources.filter((r) => r.type === "docker:index/remoteImage:RemoteImage");
            assert.equal(images.length, 6);
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

        it("keeps Postgres, PgBouncer and SuperTokens on the internal network only, which has no route out", () => {
            const internal = g.resources.find((r) => r.name === "net-internal");
            assert.equal(internal?.inputs.internal, true);
            for (const name of ["postgres", "pooler", "supertokens"]) {
                const nets = (container(g, name).inputs.networksAdvanced as { name: string }[]).map((n) => n.name);
                assert.deepEqual(nets, [internal?.inputs.name], name);
            }
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
                // Named containers: a replacement must remove the old one first or the name clashes.
                assert.equal(c.deleteBeforeReplace, true, `${c.name} deleteBeforeReplace`);
            }
            assert.match(JSON.stringify(container(g, "postgres").inputs.healthcheck), /pg_isready/);
            assert.match(JSON.stringify(container(g, "supertokens").inputs.healthcheck), /\/hello/);
        });

        it("keeps the data volumes when the stack is destroyed", () => {
            const volumes = g.resources.filter((r) => r.type === "docker:index/volume:Volume");
            assert.deepEqual(volumes.map((v) => v.name).sort(), ["postgres-data", "proxy-data"]);
            for (const v of volumes) assert.equal(v.retainOnDelete, true, v.name);
            const mounts = container(g, "postgres").inputs.volumes as { volumeName: string; containerPath: string }[];
            assert.deepEqual(mounts, [{ volumeName: `byte-runner-${stack}-pgdata`, containerPath: "/var/lib/postgresql/data" }]);
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

        it("routes each hostname through Caddy with security headers", () => {
            const caddyfile = String((container(g, "proxy").inputs.uploads as { content: string }[])[0].content);
            const { frontendHost, apiHost } = expectations[stack];
            assert.match(caddyfile, new RegExp(`^${frontendHost.replace(/\./g, "\\.")} \\{[^}]*reverse_proxy frontend:3000`, "m"));
            assert.match(caddyfile, new RegExp(`^${apiHost.replace(/\./g, "\\.")} \\{[^}]*reverse_proxy backend:4000`, "m"));
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
