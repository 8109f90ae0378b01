// The policy pack (policy/) run by the real engine: `pulumi preview --policy-pack policy` of a
// small program shaped like this one (tests/policy-fixture/). Correct, it passes; broken on
// purpose (config `broken`), each mandatory rule fails the preview with its own message on
// the resource that breaks it; the DNS override lets the cutover through and nothing else.
// That the committed stacks pass the pack is tests/e2e/preview.test.ts's.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { RULES } from "../../policy/rules";
import { explain, needsPlugins, REPO, Run } from "./pulumi";

const SKIP = needsPlugins("command", "docker", "cloudflare");
const FIXTURE = path.join(REPO, "tests", "policy-fixture");
const PACK = path.join(REPO, "policy");
const MANDATORY = RULES.filter((r) => r.enforcement === "mandatory").map((r) => r.name);

/** `pulumi <args>` in the fixture, with the project's offline environment and a state backend of its own. */
function pulumi(backend: string, args: string[]): Run {
    const r = spawnSync("bash", ["-c", `source "${REPO}/tools/pulumi-env.sh" && cd "${FIXTURE}" && exec pulumi "$@"`, "pulumi", ...args], {
        env: { ...process.env, PULUMI_BACKEND_URL: `file://${backend}`, PULUMI_CONFIG_PASSPHRASE: "" },
        encoding: "utf8",
        timeout: 10 * 60_000,
        maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

/** The violations the preview printed: rule name -> the resources it named. */
function violations(out: string): Map<string, string[]> {
    const found = new Map<string, string[]>();
    for (const m of out.matchAll(/^\s*- \[(mandatory|advisory)\]\s+(\S+)\s+\(([^)]*)\)/gm)) {
        found.set(m[2]!, [...(found.get(m[2]!) ?? []), m[3]!]);
    }
    return found;
}

describe("the policy pack with the real engine (tests/policy-fixture)", { skip: SKIP }, () => {
    let backend: string;
    const preview = (config: Record<string, boolean>) => {
        for (const [key, value] of Object.entries(config)) {
            const set = pulumi(backend, ["config", "set", "--stack", "prod", key, String(value)]);
            assert.equal(set.status, 0, explain(set));
        }
        return pulumi(backend, ["preview", "--stack", "prod", "--non-interactive", "--policy-pack", PACK]);
    };

    before(() => {
        backend = fs.mkdtempSync(path.join(os.tmpdir(), "byte-runner-policy-"));
        const init = pulumi(backend, ["stack", "init", "prod", "--secrets-provider", "passphrase"]);
        assert.equal(init.status, 0, explain(init));
    });
    after(() => {
        fs.rmSync(backend, { recursive: true, force: true });
        fs.rmSync(path.join(FIXTURE, "Pulumi.prod.yaml"), { force: true });
    });

    it("passes the correct program: the pack ran and found nothing", () => {
        const r = preview({ broken: false, allowUnverifiedCutover: false });
        const out = r.stdout + r.stderr;
        assert.equal(r.status, 0, explain(r));
        assert.match(out, /✅ byte-runner-infra@v[\d.]+ \(local: /);
        assert.deepEqual([...violations(out).keys()], []);
    });

    it("fails the broken program with every mandatory rule's own message, each on the resource that breaks it", () => {
        const r = preview({ broken: true, allowUnverifiedCutover: false });
        const out = r.stdout + r.stderr;
        assert.notEqual(r.status, 0, explain(r));
        assert.match(out, /❌ byte-runner-infra@v[\d.]+ \(local: /);
        const found = violations(out);
        assert.deepEqual([...found.keys()].sort(), [...MANDATORY].sort(), explain(r));
        // The resource each names, as the CLI shows it (type without its module path), and the message.
        const expected: Record<string, [string, RegExp]> = {
            "only-proxy-publishes-ports": ["docker:index:Container: postgres", /postgres \(docker:index\/container:Container\) publishes 5432->5432\/tcp: only the proxy publishes ports\./],
            "data-services-off-edge": ["docker:index:Container: supertokens", /supertokens \(docker:index\/container:Container\) is a SuperTokens container on the edge network \(fixture-edge(, net-edge)?\): SuperTokens never sits on the edge network\./],
            "images-pinned": ["docker:index:RemoteImage: pooler-image", /pooler-image \(docker:index\/remoteImage:RemoteImage\) name "edoburu\/pgbouncer:latest" is not pinned/],
            "no-plain-secrets": ["docker:index:Container: backend", /backend \(docker:index\/container:Container\) input envs\[1\] holds a URL with a password in it in plain text/],
            "containers-memory-limited": ["docker:index:Container: pooler", /pooler \(docker:index\/container:Container\) has no memory limit/],
            "prod-dns-cutover-gated": ["cloudflare:index:DnsRecord: dns-api", /prod DNS record api\.fixture\.example points at the VPS without waiting for migration-verify/],
        };
        for (const [rule, [resource, message]] of Object.entries(expected)) {
            assert.deepEqual(found.get(rule), [resource], `${rule}: ${JSON.stringify(found.get(rule))}`);
            assert.match(out, message, rule);
        }
        // The pack names where a plain secret is, never what it is.
        assert.doesNotMatch(out.slice(out.indexOf("Policies:")), /hunter2/);
    });

    it("lets the prod cutover through with dnsAllowUnverifiedCutover, and nothing else", () => {
        const r = preview({ broken: true, allowUnverifiedCutover: true });
        const found = violations(r.stdout + r.stderr);
        assert.notEqual(r.status, 0, explain(r));
        assert.deepEqual([...found.keys()].sort(), MANDATORY.filter((rule) => rule !== "prod-dns-cutover-gated").sort());
    });
});
