// npm run drift (tools/drift.ts), the parts that need no VPS: reading back the command line
// of a shipped script from the state (to run it again in --check mode), and naming the
// environment variables that differ without showing a value. The looks at a real VPS are
// proven end to end (tests/e2e/local.test.ts, step 5b).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRunCommand, runCommand, scriptFile } from "../components/shared/vps-script";
import { envDifferences, EXIT, main, refreshChange } from "../tools/drift";

describe("npm run drift", () => {
    const script = scriptFile("firewall.sh", "#!/usr/bin/env bash\necho firewall\n");
    const urn = "urn:pulumi:prod::byte-runner-infra::byte-runner:firewall:Firewall$command:remote:Command::firewall-upload-firewall.sh";

    it("reads a shipped script's command line back as it was made, for root and through sudo, modes and passed variables included", () => {
        for (const [args, passEnv, sudo] of [
            [["--apply"], ["SSH_CONNECTION"], true],
            [[], [], false],
            [["--mode", "it's a value"], ["A", "B_2"], false],
        ] as [string[], string[], boolean][]) {
            assert.deepEqual(parseRunCommand(runCommand(script, urn, args, passEnv, sudo)), { script, uploadUrn: urn, args, passEnv, sudo });
        }
    });

    it("does not read a line it did not make as a shipped script's", () => {
        for (const line of ["bash /tmp/x.sh --apply", `${runCommand(script, urn, [], [], false)} ; rm -rf /`, runCommand({ ...script, path: "/tmp/firewall.sh" }, urn, [], [], false)]) {
            assert.equal(parseRunCommand(line), undefined, line);
        }
    });

    it("names the environment variables that were removed, changed or added by hand, never their values, and not the image's own", () => {
        const wanted = ["DATABASE_URL=postgres://app:s3cret@pooler/app", "LOG_LEVEL=info", "PORT=4000"];
        const live = ["DATABASE_URL=postgres://app:other@pooler/app", "PORT=4000", "PATH=/usr/bin", "DEBUG=1", "NODE_VERSION=20"];
        const image = ["PATH=/usr/bin", "NODE_VERSION=18"];
        const found = envDifferences(wanted, live, image);
        assert.deepEqual(found, ["DATABASE_URL changed", "DEBUG added", "LOG_LEVEL removed", "NODE_VERSION added"]);
        assert.ok(!found.join(" ").includes("s3cret") && !found.join(" ").includes("other"));
        assert.deepEqual(envDifferences(wanted, [...wanted, ...image], image), []);
    });

    it("reads what a refresh preview found: gone, the properties that differ, or nothing", () => {
        const urn = "urn:pulumi:prod::byte-runner-infra::docker:index/network:Network::internal";
        assert.equal(refreshChange({ op: "refresh", urn, oldState: { outputs: { name: "n" } } }), "gone: the provider no longer finds it");
        assert.equal(refreshChange({ op: "delete", urn }), "gone: the provider no longer finds it");
        assert.equal(refreshChange({ op: "update", urn, detailedDiff: { labels: { kind: "update" }, internal: { kind: "update" } } }), "differs in internal, labels");
        const same = { name: "n", labels: [{ label: "a", value: "b" }] };
        assert.equal(refreshChange({ op: "refresh", urn, oldState: { outputs: same }, newState: { outputs: { ...same } } }), undefined);
        assert.equal(refreshChange({ op: "refresh", urn, oldState: { outputs: same }, newState: { outputs: { ...same, labels: [] } } }), "differs in labels");
        assert.equal(refreshChange({ op: "same", urn }), undefined);
    });

    it("refuses bad arguments before reading anything (exit 2)", () => {
        for (const argv of [[], ["--repair"], ["Prod!"], ["prod", "staging"], ["prod", "--force"]]) assert.equal(main(argv), EXIT.usage, argv.join(" "));
    });
});
