import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { postgresCommand, postgresSettings } from "./settings";

describe("postgres settings", () => {
    it("derive memory settings from the container's memory", () => {
        const s = postgresSettings(3072, 150, 500);
        assert.equal(s.shared_buffers, "768MB");
        assert.equal(s.effective_cache_size, "2304MB");
        assert.equal(s.work_mem, "5MB"); // (3072 - 768) / (150 * 3)
        assert.equal(s.max_connections, "150");
        assert.equal(s.log_min_duration_statement, "500");
    });

    it("never go below workable minimums on a tiny box", () => {
        const s = postgresSettings(64, 1000, -1);
        assert.equal(s.shared_buffers, "32MB");
        assert.equal(s.work_mem, "1MB");
        assert.equal(s.maintenance_work_mem, "16MB");
    });

    it("log what an operator looks for: slow statements, lock waits, and who each session line is about", () => {
        const s = postgresSettings(2048, 100, 500);
        assert.equal(s.log_min_duration_statement, "500");
        assert.equal(s.log_lock_waits, "on");
        // Every session's line names time, pid, user@database, client and application.
        assert.equal(s.log_line_prefix, "%m [%p] %q%u@%d %r app=%a ");
        // Connections are not logged: behind PgBouncer they are the pool's churn (failed logins are logged anyway).
        assert.equal(s.log_connections, undefined);
        assert.equal(s.log_disconnections, undefined);
    });

    it("load pg_stat_statements at start, for the monitoring's top statements", () => {
        const s = postgresSettings(2048, 100, 500);
        assert.equal(s.shared_preload_libraries, "pg_stat_statements");
        assert.equal(s["pg_stat_statements.track"], "top");
    });

    it("become `postgres -c key=value` arguments", () => {
        assert.deepEqual(postgresCommand({ a: "1", b: "x y" }), ["postgres", "-c", "a=1", "-c", "b=x y"]);
    });
});
