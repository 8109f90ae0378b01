// One table of good and bad values per setting that both the config validator
// (config.ts) and a VPS script check. Each value goes to parseConfig, and to the script
// that receives it, rendered the way the component renders it, in the script's
// validate-only mode (--check-settings, run locally with bash on the text that is
// shipped): both must accept it, or both refuse it. A value config.ts accepts and the
// script refuses would pass `pulumi preview` and fail `pulumi up` halfway.
// Then the settings each stack really sends are fed to the scripts, db-roles.sh's too.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { ConfigError, parseConfig, StackConfig } from "../config";
import { FIREWALL_SCRIPT, firewallSettings } from "../components/firewall";
import { BOOTSTRAP_SCRIPT, bootstrapSettings } from "../components/host";
import { PG_MIGRATE, STEP_SCRIPT, stepSettings } from "../components/migration";
import { ROLES_SCRIPT } from "../components/postgres";
import { PROXY_PORTS } from "../components/proxy";
import { sha256 } from "../components/shared/naming";
import { shippedText } from "../components/shared/vps-script";
import { buildGraph, committedConfig, StackConfigInput } from "../tools/graph";

const STACK = "staging";
const SOURCE_URL = "postgresql://postgres.ref:SourcePw0123456789@aws-0-eu-central-1.pooler.supabase.com:5432/postgres";
const AUTH_URL = "postgresql://st:AuthPw0123456789@10.0.0.9:5432/supertokens_export";

/** The shipped texts, written where bash can run them (they need no other file). */
let scriptsDir = "";
const shipped = (file: string) => path.join(scriptsDir, path.basename(file));

/** Runs a shipped script in its validate-only mode with `stdin`; status 0 = accepted. */
function checkSettings(file: string, stdin: string, mode = "--check-settings"): { status: number | null; output: string } {
    const r = spawnSync("bash", [shipped(file), mode], { input: stdin, encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The base config (committed staging config with a migration run), with `values` over it. */
function configWith(values: Record<string, string>, secrets: Record<string, string> = {}): StackConfigInput {
    const c = committedConfig(STACK);
    Object.assign(c.values, { migrationRunId: "r1", ...values }, { migrationSourceDatabaseUrl: SOURCE_URL, migrationAuthSourceDatabaseUrl: AUTH_URL, ...secrets });
    c.secretKeys.push("migrationSourceDatabaseUrl", "migrationAuthSourceDatabaseUrl");
    return c;
}

function parse(c: StackConfigInput): { config?: StackConfig<string>; problems: string[] } {
    try {
        return { config: parseConfig(c.values, new Set(c.secretKeys), STACK), problems: [] };
    } catch (e) {
        if (e instanceof ConfigError) return { problems: e.problems };
        throw e;
    }
}

/** How each script's whole stdin is rendered from a parsed config, by the component's own function. */
const scripts = {
    bootstrap: { file: BOOTSTRAP_SCRIPT, render: (c: StackConfig<string>) => bootstrapSettings(c.host) },
    firewall: {
        file: FIREWALL_SCRIPT,
        render: (c: StackConfig<string>) => firewallSettings({ ...c.firewall, sshPort: c.host.sshPort, publicPorts: [...PROXY_PORTS] }),
    },
    migration: { file: STEP_SCRIPT, render: (c: StackConfig<string>) => migrationSettings(c, "app") },
    "migration (auth data)": { file: STEP_SCRIPT, render: (c: StackConfig<string>) => migrationSettings(c, "auth") },
} as const;

function migrationSettings(c: StackConfig<string>, chain: "app" | "auth"): string {
    const m = c.migration;
    assert.ok(m, "the base config has a migration run");
    const target = (database: string) => `postgresql://postgres:TargetPw0123456789@postgres:5432/${database}`;
    const common = {
        runId: m.runId,
        pgMigrate: { path: shipped(PG_MIGRATE), sha256: sha256(shippedText(PG_MIGRATE)) },
        image: c.postgres.image,
        edgeNetwork: "byte-runner-staging-edge",
        internalNetwork: "byte-runner-staging-internal",
        jobs: m.jobs,
    };
    return chain === "app"
        ? stepSettings({ ...common, chain, service: "byte-runner-staging-backend", sourceDatabaseUrl: m.sourceDatabaseUrl, targetDatabaseUrl: target("app"), role: "app", schemas: m.schemas, rls: m.rls, force: m.force, replaceIfEmpty: "", mode: m.mode, freezeRoles: m.freezeRoles, cutoverMaxLagBytes: m.cutoverMaxLagBytes })
        : stepSettings({ ...common, chain, service: "byte-runner-staging-supertokens", sourceDatabaseUrl: m.authSourceDatabaseUrl ?? "", targetDatabaseUrl: target("supertokens"), role: "supertokens", schemas: "public", rls: "disable", force: false, replaceIfEmpty: "public.all_auth_recipe_users", mode: "dump", freezeRoles: "", cutoverMaxLagBytes: m.cutoverMaxLagBytes });
}

interface Setting {
    configKey: string;
    script: keyof typeof scripts;
    setting: string;
    /** The value as config holds it (default: as written in the row). */
    toConfig?: (value: string) => string;
    /** The value as the component hands it to the script (default: as written in the row). */
    toScript?: (value: string) => string;
    secret?: boolean;
    /** [value, good]; a row that today's config.ts gets wrong carries a `// config.ts must refuse this: <why>` comment. */
    rows: [string, boolean][];
}

const cidrList = (value: string) => JSON.stringify([value]);
const flag = (value: string) => (value === "true" ? "1" : value === "false" ? "0" : value);

const TABLE: Setting[] = [
    {
        configKey: "firewallAdminCidrs",
        script: "firewall",
        setting: "ADMIN_CIDRS",
        toConfig: cidrList,
        rows: [
            ["198.51.100.0/24", true],
            ["203.0.113.7/32", true],
            ["10.0.0.0/8", true],
            ["0.0.0.0/0", true],
            ["2001:db8::/32", true],
            ["2001:DB8::/32", true],
            ["2001:db8::1/128", true],
            ["fe80::/10", true],
            ["::/0", true],
            ["10.0.0.1/8", false],
            ["198.51.100.7/24", false],
            ["2001:db8::1/32", false],
            ["1::2::3/64", false],
            [":::/64", false],
            ["12345::/64", false],
            ["1:2:3:4:5:6:7:8:9/128", false],
            ["198.51.100.7", false],
            ["2001:db8::1", false],
            ["10.0.0.0/33", false],
            ["2001:db8::/129", false],
            ["256.0.0.0/8", false],
            ["010.0.0.0/8", false],
            ["10.0.0/8", false],
            ["10.0.0.0/-8", false],
            ["office", false],
        ],
    },
    {
        configKey: "hostSshPort",
        script: "firewall",
        setting: "SSH_PORT",
        rows: [
            ["22", true],
            ["2222", true],
            ["1", true],
            ["65535", true],
            ["0", false],
            ["65536", false],
            ["-22", false],
            ["22.5", false],
            ["ssh", false],
            ["", false],
            ["443", false], // the proxy publishes 443 (PROXY_PORTS)
            ["80", false], // the proxy publishes 80 (PROXY_PORTS)
        ],
    },
    {
        configKey: "firewallCloudflareOnly",
        script: "firewall",
        setting: "CLOUDFLARE_ONLY",
        toScript: flag,
        rows: [
            ["true", true],
            ["false", true],
            ["yes", false],
            ["TRUE", false],
            ["", false],
        ],
    },
    {
        configKey: "hostSwapMb",
        script: "bootstrap",
        setting: "SWAP_MB",
        rows: [
            ["0", true],
            ["2048", true],
            ["65536", true],
            ["65537", false],
            ["-1", false],
            ["1.5", false],
            ["2 048", false],
            ["lots", false],
            ["", false],
        ],
    },
    {
        configKey: "hostLogMaxSizeMb",
        script: "bootstrap",
        setting: "LOG_MAX_SIZE_MB",
        rows: [
            ["1", true],
            ["10", true],
            ["1024", true],
            ["0", false],
            ["1025", false],
            ["10m", false],
            ["-5", false],
        ],
    },
    {
        configKey: "hostLogMaxFiles",
        script: "bootstrap",
        setting: "LOG_MAX_FILES",
        rows: [
            ["1", true],
            ["5", true],
            ["100", true],
            ["0", false],
            ["101", false],
            ["five", false],
        ],
    },
    {
        configKey: "migrationRunId",
        script: "migration",
        setting: "RUN_ID",
        rows: [
            ["r1", true],
            ["2026-12-01", true],
            ["A.b_c-9", true],
            ["x".repeat(64), true],
            ["x".repeat(65), false],
            ["-first", false],
            [".hidden", false],
            ["two words", false],
            ["a/b", false],
            ["día-1", false],
        ],
    },
    {
        configKey: "migrationSchemas",
        script: "migration",
        setting: "SCHEMAS",
        rows: [
            ["public", true],
            ["public,billing", true],
            ["_private", true],
            ["app_2", true],
            ["", false],
            ["Public", false],
            ["public,", false],
            [",public", false],
            ["public,,billing", false],
            ["public, billing", false],
            ["public;drop", false],
            ["2fa", false],
            ["auth", false],
            ["public,storage", false],
        ],
    },
    {
        configKey: "migrationJobs",
        script: "migration",
        setting: "JOBS",
        rows: [
            ["1", true],
            ["2", true],
            ["16", true],
            ["0", false],
            ["17", false],
            ["-1", false],
            ["2.5", false],
            ["two", false],
        ],
    },
    {
        configKey: "migrationRls",
        script: "migration",
        setting: "RLS",
        rows: [
            ["disable", true],
            ["keep-rewritten", true],
            ["keep", false],
            ["Disable", false],
            ["", false],
        ],
    },
    {
        configKey: "migrationForce",
        script: "migration",
        setting: "FORCE",
        toScript: flag,
        rows: [
            ["true", true],
            ["false", true],
            ["yes", false],
            ["", false],
        ],
    },
    {
        configKey: "migrationMode",
        script: "migration",
        setting: "MODE",
        rows: [
            ["dump", true],
            ["replicate", true],
            ["logical", false],
            ["Dump", false],
            ["", false],
        ],
    },
    {
        configKey: "migrationFreezeRoles",
        script: "migration",
        setting: "FREEZE_ROLES",
        rows: [
            ["", true],
            ["authenticator", true],
            ["authenticator,postgres", true],
            ["_app2", true],
            ["authenticator,", false],
            ["a b", false],
            ["2fa", false],
            ["x;drop", false],
        ],
    },
    {
        configKey: "migrationCutoverMaxLagBytes",
        script: "migration",
        setting: "CUTOVER_MAX_LAG_BYTES",
        rows: [
            ["0", true],
            ["16777216", true],
            ["1073741824", true],
            ["1073741825", false],
            ["-1", false],
            ["16MB", false],
        ],
    },
    {
        configKey: "migrationSourceDatabaseUrl",
        script: "migration",
        setting: "SOURCE_DATABASE_URL",
        secret: true,
        rows: [
            [SOURCE_URL, true],
            ["postgres://u:Pw0123456789@10.0.0.9:5432/db", true],
            ["postgresql://u:Pw0123456789@[2001:db8::1]:5432/db", true],
            ["postgresql://u:Pw0123456789@db.example.com/db?sslmode=require", true],
            ["postgresql://u@db.example.com:5432/db", true],
            ["mysql://root:Pw0123456789@db.example.com/app", false],
            ["postgresql://u:Pw0123456789@db.example.com:5432", false],
            ["postgresql://u:Pw0123456789@db.example.com:5432/", false],
            ["db.example.com:5432/app", false],
            ["postgresql://db.example.com:5432/app", false],
            ["postgresql://u:Pw0123456789@db.example.com:54x2/app", false],
            ["postgresql://u:Pw0123456789@/app", false],
        ],
    },
    {
        configKey: "migrationAuthSourceDatabaseUrl",
        script: "migration (auth data)",
        setting: "SOURCE_DATABASE_URL",
        secret: true,
        rows: [
            [AUTH_URL, true],
            ["postgresql://u:Pw0123456789@db.example.com:5432", false],
            ["postgresql://db.example.com:5432/st", false],
        ],
    },
];

/** `stdin` with the line of `key` replaced by `key=value`. */
function withSetting(stdin: string, key: string, value: string): string {
    const lines = stdin.split("\n");
    const index = lines.findIndex((l) => l.startsWith(`${key}=`));
    assert.ok(index >= 0, `the rendered settings have no ${key}`);
    lines[index] = `${key}=${value}`;
    return lines.join("\n");
}

before(() => {
    scriptsDir = fs.mkdtempSync(path.join(os.tmpdir(), "settings-table-"));
    for (const file of [BOOTSTRAP_SCRIPT, FIREWALL_SCRIPT, STEP_SCRIPT, PG_MIGRATE, ROLES_SCRIPT]) fs.writeFileSync(shipped(file), shippedText(file));
});
after(() => fs.rmSync(scriptsDir, { recursive: true, force: true }));

describe("config.ts and the VPS scripts agree on every value (one table)", () => {
    it("the base config is valid, and each script accepts what the component renders from it", () => {
        const base = parse(configWith({}));
        assert.deepEqual(base.problems, []);
        for (const [name, script] of Object.entries(scripts)) {
            const r = checkSettings(script.file, script.render(base.config!));
            assert.equal(r.status, 0, `${name}: ${r.output}`);
        }
    });

    for (const s of TABLE) {
        describe(`${s.configKey} -> ${s.script}: ${s.setting}`, () => {
            for (const [value, good] of s.rows) {
                it(`${JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value)} is ${good ? "good" : "bad"}`, () => {
                    const configValue = (s.toConfig ?? ((v) => v))(value);
                    const scriptValue = (s.toScript ?? ((v) => v))(value);
                    const parsed = parse(s.secret ? configWith({}, { [s.configKey]: configValue }) : configWith({ [s.configKey]: configValue }));
                    const base = parse(configWith({})).config!;
                    const script = scripts[s.script];
                    const r = checkSettings(script.file, withSetting(script.render(base), s.setting, scriptValue));
                    const configAccepts = parsed.problems.length === 0;
                    const scriptAccepts = r.status === 0;
                    if (!scriptAccepts) {
                        assert.equal(r.status, 2, `${script.file} must exit 2 on a bad setting:\n${r.output}`);
                        assert.match(r.output, new RegExp(`\\b${s.setting}\\b`), `${script.file} must name ${s.setting}:\n${r.output}`);
                        if (s.secret) assert.ok(!r.output.includes(value) || value === "", `${script.file} repeated the secret value:\n${r.output}`);
                    } else if (configAccepts) {
                        // The component hands the script exactly this: the test renders values as it does.
                        assert.ok(script.render(parsed.config!).split("\n").includes(`${s.setting}=${scriptValue}`), `the component does not render ${s.configKey}=${value} as ${s.setting}=${scriptValue}`);
                    }
                    if (!configAccepts) {
                        assert.ok(parsed.problems.every((p) => p.includes(s.configKey)), `config.ts blames another key:\n${parsed.problems.join("\n")}`);
                        if (s.secret) assert.ok(!parsed.problems.join("\n").includes(value), "config.ts repeated the secret value");
                    }
                    if (configAccepts && !scriptAccepts) assert.fail(`config.ts accepts ${s.configKey}=${value}, which ${script.file} refuses: config.ts must refuse it (the row's comment says why):\n${r.output}`);
                    assert.equal(configAccepts, good, `config.ts ${configAccepts ? "accepts" : "refuses"} ${s.configKey}=${value}${configAccepts ? "" : `:\n${parsed.problems.join("\n")}`}`);
                    assert.equal(scriptAccepts, good, `${script.file} ${scriptAccepts ? "accepts" : "refuses"} ${s.setting}=${value}:\n${r.output}`);
                });
            }
        });
    }
});

describe("every VPS script reads its settings the one way, and refuses what it does not know", () => {
    const base = () => parse(configWith({})).config!;
    for (const [name, script] of Object.entries(scripts)) {
        it(`${name}: an unknown key, a key given twice, a missing key and a line that is not KEY=VALUE are refused, naming the key`, () => {
            const stdin = script.render(base());
            const cases: [string, RegExp][] = [
                [`${stdin}NO_SUCH_SETTING=1\n`, /invalid setting NO_SUCH_SETTING: unknown key/],
                [`${stdin}${stdin.split("\n")[0]}\n`, new RegExp(`invalid setting ${stdin.split("=")[0]}: given twice`)],
                [stdin.split("\n").slice(1).join("\n"), new RegExp(`invalid setting ${stdin.split("=")[0]}: missing`)],
                [`${stdin}this is not a setting\n`, /stdin line \d+ is not KEY=VALUE/],
            ];
            for (const [input, message] of cases) {
                const r = checkSettings(script.file, input);
                assert.equal(r.status, 2, r.output);
                assert.match(r.output, message);
            }
        });
    }
});

describe("the settings each stack really sends are accepted by the scripts", () => {
    for (const stack of ["staging", "prod"]) {
        it(`${stack}: every command that runs a shipped script gets settings its --check-settings accepts`, async () => {
            const c = committedConfig(stack);
            Object.assign(c.values, { migrationRunId: "r1", migrationSourceDatabaseUrl: SOURCE_URL, migrationAuthSourceDatabaseUrl: AUTH_URL });
            c.secretKeys.push("migrationSourceDatabaseUrl", "migrationAuthSourceDatabaseUrl");
            const g = await buildGraph(stack, c);
            const runs: Record<string, string> = {
                "vps-bootstrap": BOOTSTRAP_SCRIPT,
                "firewall-apply": FIREWALL_SCRIPT,
                "postgres-roles": ROLES_SCRIPT,
                "migration-restore": STEP_SCRIPT,
                "migration-auth-restore": STEP_SCRIPT,
            };
            for (const [name, file] of Object.entries(runs)) {
                const resource = g.resources.find((r) => r.name === name);
                assert.ok(resource, `no ${name}`);
                // pg-migrate is where the upload puts it on the VPS; here it is the local copy of the same text.
                const stdin = String(resource.revealed.stdin).replace(/^PG_MIGRATE=.*$/m, `PG_MIGRATE=${shipped(PG_MIGRATE)}`);
                const r = checkSettings(file, stdin);
                assert.equal(r.status, 0, `${name} (${file}): ${r.output}`);
            }
        });
    }

    it("db-roles.sh (its values come from the stack, not from config): refuses what the stack never sends", () => {
        const good = "CONTAINER=byte-runner-prod-postgres\nSUPERUSER_PASSWORD=Superuser0123456789\nROLES=app:app:AppPassword0123456789 supertokens:supertokens:StPassword0123456789\nMONITOR=monitor:MonPassword0123456789\n";
        assert.equal(checkSettings(ROLES_SCRIPT, good).status, 0);
        const bad: [string, string, RegExp][] = [
            ["ROLES", "app:app:short", /the password of role app must be 16\+ letters and digits/],
            ["ROLES", "App:app:AppPassword0123456789", /ROLES: item 1 is not role:database:password/],
            ["ROLES", "app:app:AppPassword0123456789 app:x:AppPassword0123456789", /role app is given twice/],
            ["ROLES", "postgres:postgres:AppPassword0123456789", /role postgres is the superuser/],
            ["ROLES", "", /ROLES: empty/],
            ["MONITOR", "monitor:short", /the password of role monitor must be 16\+ letters and digits/],
            ["MONITOR", "app:MonPassword0123456789", /role app is already the superuser or an application's role/],
            ["MONITOR", "Monitor:MonPassword0123456789", /MONITOR: is not role:password/],
            ["SUPERUSER_PASSWORD", "has'quote0123456789", /SUPERUSER_PASSWORD: must be 16\+ letters and digits/],
            ["CONTAINER", "", /CONTAINER: '' is not a container name/],
        ];
        for (const [key, value, message] of bad) {
            const r = checkSettings(ROLES_SCRIPT, withSetting(good, key, value));
            assert.equal(r.status, 2, r.output);
            assert.match(r.output, message);
            assert.ok(!r.output.includes("0123456789"), `a password in the message: ${r.output}`);
        }
    });
});
