// What the stack writes into pgbouncer.ini depends on the image's PgBouncer release: a setting
// an older PgBouncer does not know would stop it from starting.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { pgbouncerIni, pgbouncerVersion } from "./pgbouncer";

const ini = (image: string) =>
    pgbouncerIni({
        databases: [{ name: "app", host: "postgres", port: 5432, dbname: "app" }],
        defaultPoolSize: 20,
        maxClientConn: 1500,
        statsUser: "pgbouncer_stats",
        version: pgbouncerVersion(image),
    });

describe("pgbouncer.ini by release", () => {
    it("reads the release from the image tags the stacks use", () => {
        assert.deepEqual(pgbouncerVersion("edoburu/pgbouncer:v1.24.1-p1"), [1, 24]);
        assert.deepEqual(pgbouncerVersion("byte-runner-local/pgbouncer:1.18"), [1, 18]);
        assert.deepEqual(pgbouncerVersion("registry.example.com:5000/pgbouncer:1.21.0"), [1, 21]);
        assert.equal(pgbouncerVersion("edoburu/pgbouncer@sha256:" + "a".repeat(64)), undefined);
    });

    it("tracks named prepared statements from 1.21 on, and never for a release it cannot tell", () => {
        assert.match(ini("edoburu/pgbouncer:v1.24.1-p1"), /^max_prepared_statements = 200$/m);
        assert.match(ini("edoburu/pgbouncer:1.21.0"), /^max_prepared_statements = 200$/m);
        assert.doesNotMatch(ini("byte-runner-local/pgbouncer:1.18"), /max_prepared_statements/);
        assert.doesNotMatch(ini("edoburu/pgbouncer:1.20.1"), /max_prepared_statements/);
        assert.doesNotMatch(ini("edoburu/pgbouncer@sha256:" + "a".repeat(64)), /max_prepared_statements/);
    });
});
