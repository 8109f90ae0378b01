import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cpusStable, dockerCpus } from "./cpus";

describe("dockerCpus", () => {
    it("spells a CPU limit as the docker provider reads it back, so a second up sees no change", () => {
        // Expected values are what the provider's nanoInt64ToDecimalString returns for
        // the container's NanoCPUs (checked against the provider's source).
        const cases: [number, string][] = [
            [1, "1.0"],
            [2, "2.0"],
            [4, "4.0"],
            [0.5, "0.5"],
            [1.5, "1.5"],
            [0.25, "0.25"],
            [0.75, "0.75"],
            [2.125, "2.125"],
            [10, "10."],
        ];
        for (const [cpus, expected] of cases) assert.equal(dockerCpus(cpus), expected, `cpus ${cpus}`);
    });

    it("tells which limits the provider would change on read-back", () => {
        for (const ok of [0.1, 0.5, 1, 1.25, 2, 4, 10]) assert.ok(cpusStable(ok), `${ok} should be stable`);
        // 0.01 reads back as "0.0" (no limit at all), 0.05 as "0.1", 10.05 as "10.1".
        for (const bad of [0.01, 0.05, 10.05, 100.25]) assert.ok(!cpusStable(bad), `${bad} should be refused`);
    });
});
