// pg-migrate's interface and configuration errors: no server needed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import { pgMigrate, runPgMigrate } from "./pg-migrate.harness";

const secret = "S3cret-Never-Shown";

describe("pg-migrate configuration", () => {
    test("--help documents every environment variable and subcommand", async () => {
        const help = await runPgMigrate(["--help"], {});
        assert.equal(help.status, 0);
        for (const name of ["SOURCE_DATABASE_URL", "TARGET_DATABASE_URL", "SCHEMAS", "DUMP_DIR", "JOBS", "FORCE", "RLS", "APP_ROLE", "OWNER", "REPLACE_IF_EMPTY", "CHECK_ONLY", "AUDIT_JSON", "MAINTENANCE_WORK_MEM"]) {
            assert.match(help.stdout, new RegExp(`^  ${name} `, "m"), name);
        }
        for (const sub of ["audit", "dump", "restore", "verify", "check-settings"]) assert.match(help.stdout, new RegExp(`^  ${sub}( |$)`, "m"), sub);
        assert.match(help.stdout, /disable \(default\) \| keep-rewritten/);
    });

    test("the script is shellcheck clean", () => {
        const result = spawnSync("shellcheck", [pgMigrate], { encoding: "utf8" });
        assert.equal(result.error, undefined, "shellcheck is installed (apt-get install shellcheck)");
        assert.equal(result.status, 0, result.stdout);
    });

    test("a missing URL says which variable and how to set it", async () => {
        const result = await runPgMigrate(["audit"], {});
        assert.equal(result.status, 2);
        assert.match(result.stderr, /SOURCE_DATABASE_URL is not set: export it as postgresql:\/\/USER:PASSWORD@HOST:PORT\/DBNAME/);
    });

    const badUrls: [string, string, RegExp][] = [
        ["not a postgres scheme", `mysql://root:${secret}@db.example.com/app`, /is not a PostgreSQL URL: it must start with postgresql:\/\//],
        ["no database name", `postgresql://postgres:${secret}@db.example.com:5432`, /has no database name: add \/DBNAME/],
        ["no user", `postgresql://db.example.com:5432/app?password=${secret}`, /has no user name/],
        ["bad port", `postgresql://postgres:${secret}@db.example.com:54x2/app`, /has a bad host or port/],
    ];
    for (const [what, url, message] of badUrls) {
        test(`a bad URL (${what}) gives a clear error without the secret`, async () => {
            const result = await runPgMigrate(["dump"], { SOURCE_DATABASE_URL: url, DUMP_DIR: "/nonexistent/dump" });
            assert.equal(result.status, 2);
            assert.match(result.stderr, message);
            assert.ok(!(result.stdout + result.stderr).includes(secret), result.stderr);
        });
    }

    test("an unreachable server gives a clear error without the secret", async () => {
        const result = await runPgMigrate(["audit"], { SOURCE_DATABASE_URL: `postgresql://postgres:${secret}@127.0.0.1:1/app` });
        assert.equal(result.status, 2);
        assert.match(result.stderr, /cannot connect to the database of SOURCE_DATABASE_URL: .*-- check host, port, user, password and sslmode/);
        assert.ok(!(result.stdout + result.stderr).includes(secret));
    });

    test("URL query parameters: libpq ones are used, others (e.g. Prisma's) are ignored by name", async () => {
        const result = await runPgMigrate(["audit"], {
            SOURCE_DATABASE_URL: `postgresql://postgres.abcdef:${secret}@127.0.0.1:1/postgres?sslmode=disable&pgbouncer=true&connect_timeout=5`,
        });
        assert.equal(result.status, 2);
        assert.match(result.stderr, /ignoring query parameter 'pgbouncer' \(not a libpq connection option\)/);
        assert.doesNotMatch(result.stderr, /ignoring query parameter '(sslmode|connect_timeout)'/);
        assert.match(result.stderr, /cannot connect to the database of SOURCE_DATABASE_URL/);
        assert.ok(!result.stderr.includes(secret));
    });

    test("bad settings are named", async () => {
        const url = `postgresql://postgres:${secret}@127.0.0.1:1/app`;
        const cases: [Record<string, string>, string[], RegExp][] = [
            [{ SOURCE_DATABASE_URL: url, JOBS: "0" }, ["audit"], /JOBS must be a whole number from 1 to 16/],
            [{ SOURCE_DATABASE_URL: url, JOBS: "17" }, ["audit"], /JOBS must be a whole number from 1 to 16/],
            [{ SOURCE_DATABASE_URL: url, SCHEMAS: "public," }, ["audit"], /SCHEMAS: 'public,' has an empty item/],
            [{ SOURCE_DATABASE_URL: url, FORCE: "yes" }, ["audit"], /FORCE must be 0 or 1/],
            [{ SOURCE_DATABASE_URL: url, SCHEMAS: "public,auth" }, ["audit"], /'auth' is a Supabase-internal schema/],
            [{ SOURCE_DATABASE_URL: url, SCHEMAS: "public;drop" }, ["audit"], /not a plain lower-case identifier/],
            [{ TARGET_DATABASE_URL: url, DUMP_DIR: "/tmp", RLS: "keep" }, ["restore"], /RLS must be disable or keep-rewritten/],
            [{ TARGET_DATABASE_URL: url }, ["restore"], /DUMP_DIR is not set/],
            [{ TARGET_DATABASE_URL: url, REPLACE_IF_EMPTY: "users;drop" }, ["restore"], /REPLACE_IF_EMPTY must be comma-separated lower-case table names/],
            [{}, ["migrate"], /unknown subcommand 'migrate'/],
        ];
        for (const [env, args, message] of cases) {
            const result = await runPgMigrate(args, env);
            assert.equal(result.status, 2, `${JSON.stringify(env)}: ${result.stderr}`);
            assert.match(result.stderr, message);
            assert.ok(!result.stderr.includes(secret));
        }
    });
});
