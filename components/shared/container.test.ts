import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dockerCpus } from "./container";

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
        ];
        for (const [cpus, expected] of cases) assert.equal(dockerCpus(cpus), expected, `cpus ${cpus}`);
    });
});
