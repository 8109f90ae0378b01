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

    it("become `postgres -c key=value` arguments", () => {
        assert.deepEqual(postgresCommand({ a: "1", b: "x y" }), ["postgres", "-c", "a=1", "-c", "b=x y"]);
    });
});
