// Prepared statements of the `pg` npm client (what the NestJS backend uses) through a real
// PgBouncer in transaction mode, configured as the stack configures it, in front of a real
// PostgreSQL 15.
//
// In transaction mode a client's next transaction may run on another server connection
// than the one its statement was prepared on. PgBouncer 1.21 and later track named
// statements per client and prepare them where needed (max_prepared_statements, which the
// stack writes for such images: prod and staging pin 1.24). Debian's 1.18, the only one this
// machine has, cannot: what it proves is that the failure is real and detected, and that the
// unnamed statements of the extended protocol (every parameterized query without `name`) work.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { Client, type DatabaseError, Pool } from "pg";
import { allowedSkip, missingError } from "../../tests/skip";
import { installedPgbouncerVersion, PGBOUNCER_BINARY, type PooledCluster, startPooledCluster } from "./pgbouncer.harness";
import { PREPARED_STATEMENTS_SINCE } from "./pgbouncer";
import { KEYS } from "../../config";

const version = installedPgbouncerVersion();
const missing = existsSync("/usr/lib/postgresql/15/bin/initdb") && version ? undefined : `PostgreSQL 15 and ${PGBOUNCER_BINARY} are needed (apt-get install postgresql-15 pgbouncer)`;
const tracksNamed = version !== undefined && (version[0] > PREPARED_STATEMENTS_SINCE[0] || (version[0] === PREPARED_STATEMENTS_SINCE[0] && version[1] >= PREPARED_STATEMENTS_SINCE[1]));

/** The statement the app would prepare: a parameterized query. */
const lookup = (name: string | undefined, id: number) => ({ ...(name ? { name } : {}), text: "SELECT id, label FROM items WHERE id = $1", values: [id] });

describe(`pg prepared statements through PgBouncer ${version?.join(".") ?? "(missing)"} in transaction mode`, { skip: allowedSkip(missing), concurrency: false }, () => {
    let pooled: PooledCluster;

    before(async () => {
        if (missing) throw missingError(missing);
        pooled = await startPooledCluster("prepared-statements-test-", {
            defaultPoolSize: Number(KEYS.poolerDefaultPoolSize.default),
            maxClientConn: Number(KEYS.poolerMaxClientConn.default),
        });
        assert.match(pooled.ini, /^pool_mode = transaction$/m);
        const setup = new Client({ connectionString: pooled.directUrl });
        await setup.connect();
        await setup.query("CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items SELECT i, 'item ' || i FROM generate_series(1, 100) i");
        await setup.end();
    });
    after(() => pooled?.stop());

    /**
     * Client A prepares (and runs) the statement on the server connection it gets; client B
     * then holds that very connection in an open transaction (PgBouncer hands out the idle
     * connection used last), so A's next execution runs on another server connection.
     */
    async function onAnotherServerConnection(name: string | undefined): Promise<{ error?: DatabaseError; rows?: unknown[] }> {
        const a = new Client({ connectionString: pooled.pooledUrl });
        const b = new Client({ connectionString: pooled.pooledUrl });
        await a.connect();
        await b.connect();
        try {
            const first = await a.query(lookup(name, 7));
            assert.deepEqual(first.rows, [{ id: 7, label: "item 7" }]);
            const aBackend = (await a.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
            await b.query("BEGIN");
            const bBackend = (await b.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
            assert.equal(bBackend, aBackend, "B must hold the server connection A prepared on (the test's premise)");
            try {
                return { rows: (await a.query(lookup(name, 8))).rows };
            } catch (error) {
                return { error: error as DatabaseError };
            } finally {
                await b.query("COMMIT");
            }
        } finally {
            await a.end();
            await b.end();
        }
    }

    it("unnamed prepared statements (parameterized queries without a name) work on any server connection", async () => {
        const result = await onAnotherServerConnection(undefined);
        assert.equal(result.error, undefined, `an unnamed statement failed: ${result.error?.message}`);
        assert.deepEqual(result.rows, [{ id: 8, label: "item 8" }]);
    });

    it("unnamed statements under load: 200 pg.Pool clients, 2,000 queries, 0 failed, every answer right", async () => {
        const pool = new Pool({ connectionString: pooled.pooledUrl, max: 200 });
        try {
            const ids = Array.from({ length: 2000 }, (_, i) => (i % 100) + 1);
            const results = await Promise.allSettled(ids.map((id) => pool.query(lookup(undefined, id))));
            const failed = results.filter((r) => r.status === "rejected");
            assert.equal(failed.length, 0, `failed: ${failed.slice(0, 3).map((r) => String((r as PromiseRejectedResult).reason)).join("; ")}`);
            results.forEach((r, i) => assert.deepEqual((r as PromiseFulfilledResult<{ rows: unknown[] }>).value.rows, [{ id: ids[i], label: `item ${ids[i]}` }]));
        } finally {
            await pool.end();
        }
    });

    if (tracksNamed) {
        it(`named prepared statements work on another server connection (PgBouncer ${version?.join(".")} tracks them)`, async () => {
            assert.match(pooled.ini, /^max_prepared_statements = \d+$/m);
            const result = await onAnotherServerConnection("item_by_id");
            assert.equal(result.error, undefined, `a named statement failed: ${result.error?.message}`);
            assert.deepEqual(result.rows, [{ id: 8, label: "item 8" }]);
        });
    } else {
        it(`named prepared statements fail on another server connection, and the failure is detected (PgBouncer ${version?.join(".")} < ${PREPARED_STATEMENTS_SINCE.join(".")}: not proven here that they work)`, async () => {
            assert.doesNotMatch(pooled.ini, /max_prepared_statements/, "the stack must not give this release a setting it does not know");
            const result = await onAnotherServerConnection("item_by_id");
            assert.ok(result.error, "a named statement ran on a server connection it was never prepared on: transaction pooling is not in effect");
            assert.equal(result.error.code, "26000", `expected "prepared statement does not exist" (26000), got ${result.error.code}: ${result.error.message}`);
            assert.match(result.error.message, /prepared statement "item_by_id" does not exist/);
            console.log(`PgBouncer ${version?.join(".")}: a named statement on another server connection fails: ${result.error.message} (named statements need PgBouncer >= ${PREPARED_STATEMENTS_SINCE.join(".")}, or unnamed ones)`);
        });
    }
});
