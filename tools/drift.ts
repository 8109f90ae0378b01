// npm run drift -- STACK [--repair] [--own-key]
//
// Is the stack's VPS still what Pulumi last made it? Three looks, each naming what differs:
// 1. the containers, on the VPS (docker inspect by name): gone, stopped, or replaced by a
//    container made by hand, and which environment variables differ from what Pulumi set
//    (names only, never values). A refresh cannot see these: the Docker provider reads no
//    environment, and a container made anew under the same name is only "gone" to it.
// 2. the command resources that have a check mode, run on the VPS over SSH with the
//    settings the state records: the firewall (firewall.sh --check: the live nftables table
//    against the one these settings make) and the host bootstrap (bootstrap-host.sh --check:
//    the files it writes by sha256, its packages, the engine, the swap). A refresh cannot
//    see these either: command resources have no read.
// 3. `pulumi refresh --preview-only --expect-no-changes`: what the providers read back
//    (a network, a volume, a container's limits...), each resource and property named.
// Exit status: 0 no drift, 1 drift (or, with --repair, drift left after the repair), 2 bad
// arguments, 4 a look could not be made (SSH, Pulumi): the output says which.
//
// --repair puts the stack back: a container made by hand under a managed name is removed
// (the one Pulumi made is gone already; data lives in volumes), the drifted command
// resources run again exactly as the state records them (same script, same settings on
// stdin), then `pulumi up --refresh` recreates what is gone and starts what is stopped, and
// the looks run again. Runbook: INFRASTRUCTURE.md, Drift.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { BOOTSTRAP_SCRIPT } from "../components/host/host";
import { FIREWALL_SCRIPT } from "../components/firewall/firewall";
import { shellQuote } from "../components/shared/naming";
import { parseRunCommand, runCommand, RunCommandParts, SCRIPT_MISSING_STATUS } from "../components/shared/vps-script";
import { REPO } from "./graph";

const CONTAINER_TYPE = "docker:index/container:Container";
const COMMAND_TYPE = "command:remote:Command";
/** Exit status of a script's --check when the host differs (firewall.sh, bootstrap-host.sh). */
const CHECK_DRIFTED = 3;
/** The shipped scripts with a --check mode, and what the report calls them. */
const CHECKED_SCRIPTS: Record<string, string> = {
    [path.basename(FIREWALL_SCRIPT)]: "firewall",
    [path.basename(BOOTSTRAP_SCRIPT)]: "host bootstrap",
};

export const EXIT = { clean: 0, drifted: 1, usage: 2, failed: 4 } as const;

/** One thing that differs, named for a reader; `repair` says what --repair does about it. */
export interface Drift {
    what: string;
    detail: string;
    /** The resource, when it is one of the state's. */
    urn?: string;
    repair?: { kind: "remove-container"; name: string } | { kind: "rerun"; command: string; stdin: string } | { kind: "replace"; urn: string };
}

interface StateResource {
    urn: string;
    type: string;
    id?: string;
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
}

class LookFailed extends Error {}

interface Run {
    status: number;
    stdout: string;
    stderr: string;
}

function run(command: string, args: string[], input?: string): Run {
    const r = spawnSync(command, args, { cwd: REPO, input, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
    return { status: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

function pulumi(args: string[]): Run {
    return run("bash", ["-c", 'source tools/pulumi-env.sh && exec pulumi "$@"', "pulumi", ...args]);
}

const lastLines = (text: string, n = 15) => text.trimEnd().split("\n").slice(-n).join("\n");

/** A value of an exported state with --show-secrets: secrets come wrapped, their plaintext as JSON. */
function plain(value: unknown): unknown {
    if (value && typeof value === "object" && "4dabf18193072939515e22adb298388d" in value && "plaintext" in value) {
        return JSON.parse(String((value as { plaintext: string }).plaintext));
    }
    return value;
}

/** The resource's name, the last part of its URN. */
const resourceName = (urn: string) => urn.split("::").pop() ?? urn;

function exportState(stack: string): StateResource[] {
    // With secrets: the containers' environments are compared in memory, never printed.
    const r = pulumi(["stack", "export", "--stack", stack, "--show-secrets"]);
    if (r.status !== 0) throw new LookFailed(`cannot read the state of stack ${stack} (pulumi stack export):\n${lastLines(r.stderr)}`);
    const exported = JSON.parse(r.stdout) as { deployment?: { resources?: StateResource[] } };
    return exported.deployment?.resources ?? [];
}

/** Runs `command` (one string, for the VPS's shell) on the stack's VPS through tools/vps-ssh.sh. */
function onVps(stack: string, ownKey: boolean, command: string, stdin = ""): Run {
    return run("bash", ["tools/vps-ssh.sh", stack, ...(ownKey ? ["--own-key"] : []), "--", command], stdin);
}

// Prints, for each container name given, `container<TAB>NAME<TAB>` and its inspect JSON (or
// null), then `image<TAB>IMAGE<TAB>` and the image's own environment, one line each.
const INSPECT = `
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
images=""
for name in "$@"; do
    json=$(as_root docker container inspect --format '{{json .}}' "$name" 2>/dev/null) || json=null
    printf 'container\\t%s\\t%s\\n' "$name" "$json"
    [ "$json" = null ] || images="$images $(as_root docker container inspect --format '{{.Config.Image}}' "$name")"
done
for image in $(printf '%s\\n' $images | sort -u); do
    printf 'image\\t%s\\t%s\\n' "$image" "$(as_root docker image inspect --format '{{json .Config.Env}}' "$image" 2>/dev/null || echo null)"
done
`;

interface LiveContainer {
    Id: string;
    Config: { Env: string[] | null; Image: string };
    State: { Running: boolean; Status: string; ExitCode: number; FinishedAt: string };
}

const envMap = (list: string[] | null | undefined) => new Map((list ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

/** How a live environment differs from the one Pulumi set, by variable name only (values may be secrets). */
export function envDifferences(wanted: string[], live: string[], image: string[]): string[] {
    const want = envMap(wanted);
    const have = envMap(live);
    const base = envMap(image);
    const out: string[] = [];
    for (const [key, value] of want) {
        if (!have.has(key)) out.push(`${key} removed`);
        else if (have.get(key) !== value) out.push(`${key} changed`);
    }
    for (const [key, value] of have) {
        if (!want.has(key) && base.get(key) !== value) out.push(`${key} added`);
    }
    return out.sort();
}

/** The release id (components/shared/container.ts) an app's container is named by, if it has one. */
function releaseIdOf(resources: StateResource[], containerUrn: string): string | undefined {
    return resources.find((r) => r.type === "random:index/randomId:RandomId" && r.urn.endsWith(`::${resourceName(containerUrn)}-release-id`))?.urn;
}

export function containerDrift(resources: StateResource[], stack: string, ownKey: boolean): Drift[] {
    const containers = resources.filter((r) => r.type === CONTAINER_TYPE && r.id);
    if (containers.length === 0) return [];
    const names = containers.map((c) => String(plain(c.outputs?.name ?? c.inputs?.name)));
    const r = onVps(stack, ownKey, ["sh", "-c", shellQuote(INSPECT), "drift", ...names.map(shellQuote)].join(" "));
    if (r.status !== 0) throw new LookFailed(`cannot inspect the containers on the VPS (tools/vps-ssh.sh ${stack}):\n${lastLines(r.stderr)}`);
    const live = new Map<string, LiveContainer | null>();
    const imageEnv = new Map<string, string[]>();
    for (const line of r.stdout.split("\n")) {
        const [kind, name, json] = line.split("\t");
        if (kind === "container") live.set(name, JSON.parse(json) as LiveContainer | null);
        if (kind === "image") imageEnv.set(name, (JSON.parse(json) as string[] | null) ?? []);
    }
    const drifts: Drift[] = [];
    containers.forEach((resource, i) => {
        const name = names[i];
        const what = `container ${name}`;
        const found = live.get(name);
        if (!found) {
            drifts.push({ what, urn: resource.urn, detail: "gone: no container by that name on the VPS" });
            return;
        }
        const problems: string[] = [];
        const handMade = found.Id !== resource.id;
        if (handMade) problems.push(`not the container Pulumi made (id ${found.Id.slice(0, 12)}, the state has ${String(resource.id).slice(0, 12)}): made again by hand`);
        if (!found.State.Running) problems.push(`${found.State.Status}, exit code ${found.State.ExitCode} at ${found.State.FinishedAt}`);
        const wantedEnv = (plain(resource.inputs?.envs) as string[] | undefined) ?? [];
        const env = envDifferences(wantedEnv, found.Config.Env ?? [], imageEnv.get(found.Config.Image) ?? []);
        if (env.length > 0) problems.push(`environment differs: ${env.join(", ")}`);
        if (problems.length === 0) return;
        drifts.push({
            what,
            urn: resource.urn,
            detail: problems.join("; "),
            // A stopped one needs nothing more: refreshed, its state says mustRun false, and the
            // update back to true starts it (the Docker provider's update).
            // An app's release container is named by its release id: replacing the container alone
            // would reuse the name while the old one still holds it; a new id makes a new release.
            repair: handMade ? { kind: "remove-container", name } : env.length > 0 ? { kind: "replace", urn: releaseIdOf(resources, resource.urn) ?? resource.urn } : undefined,
        });
    });
    return drifts;
}

/** The command resources whose script has a --check mode, with what the state recorded for them. */
function checkedCommands(resources: StateResource[]): { label: string; resource: StateResource; create: string; parts: RunCommandParts; stdin: string }[] {
    return resources.flatMap((resource) => {
        if (resource.type !== COMMAND_TYPE) return [];
        const create = plain(resource.inputs?.create);
        const parts = typeof create === "string" ? parseRunCommand(create) : undefined;
        const label = parts && CHECKED_SCRIPTS[parts.script.name];
        if (!parts || !label) return [];
        return [{ label, resource, create: create as string, parts, stdin: String(plain(resource.inputs?.stdin) ?? "") }];
    });
}

export function commandDrift(resources: StateResource[], stack: string, ownKey: boolean): Drift[] {
    const drifts: Drift[] = [];
    for (const { label, resource, create, parts, stdin } of checkedCommands(resources)) {
        const check = runCommand(parts.script, parts.uploadUrn, ["--check"], [], parts.sudo);
        const r = onVps(stack, ownKey, check, stdin);
        const what = `${label} (${resourceName(resource.urn)})`;
        const rerun = { kind: "rerun" as const, command: create, stdin };
        if (r.status === 0) continue;
        if (r.status === CHECK_DRIFTED) {
            const lines = r.stdout.split("\n").filter((l) => / drift: |not applied|missing/.test(l));
            drifts.push({ what, detail: (lines.length > 0 ? lines : [lastLines(r.stdout, 5)]).map((l) => l.replace(/^[a-z ]+: (drift: )?/, "")).join("; "), repair: rerun });
        } else if (r.status === SCRIPT_MISSING_STATUS) {
            drifts.push({ what, detail: `its script is missing on the VPS: ${lastLines(r.stderr, 2)}`, repair: { kind: "replace", urn: parts.uploadUrn } });
        } else {
            throw new LookFailed(`cannot run ${parts.script.name} --check on the VPS (exit ${r.status}):\n${lastLines(r.stderr)}`);
        }
    }
    return drifts;
}

export interface RefreshStep {
    op: string;
    urn: string;
    oldState?: { outputs?: Record<string, unknown> };
    newState?: { outputs?: Record<string, unknown> };
    diffReasons?: string[];
    detailedDiff?: Record<string, { kind: string }>;
}

/** What `pulumi refresh --preview-only --json` found changed, one line per resource with its properties. */
export function refreshDrift(stack: string, exclude: string[] = []): Drift[] {
    const r = pulumi(["refresh", "--stack", stack, "--preview-only", "--expect-no-changes", "--json", "--non-interactive", ...exclude.flatMap((urn) => ["--exclude", urn])]);
    let plan: { steps?: RefreshStep[] };
    try {
        plan = JSON.parse(r.stdout) as { steps?: RefreshStep[] };
    } catch {
        throw new LookFailed(`pulumi refresh --preview-only did not run (exit ${r.status}):\n${lastLines(r.stderr || r.stdout)}`);
    }
    return (plan.steps ?? []).flatMap((step) => {
        const change = refreshChange(step);
        if (!change) return [];
        const type = step.urn.split("::")[2]?.split("$").pop() ?? "";
        return [{ what: `${type} ${resourceName(step.urn)} (refresh)`, detail: change }];
    });
}

/** What a refresh step changed, for a reader; undefined when nothing did. */
export function refreshChange(step: RefreshStep): string | undefined {
    if (step.op === "same" || step.op === "read") return undefined;
    if (step.op === "delete" || (step.op === "refresh" && !step.newState)) return "gone: the provider no longer finds it";
    const named = [...Object.keys(step.detailedDiff ?? {}), ...(step.diffReasons ?? [])];
    if (named.length === 0 && step.op === "refresh") {
        const before = step.oldState?.outputs ?? {};
        const after = step.newState?.outputs ?? {};
        for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
            if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) named.push(key);
        }
        if (named.length === 0) return undefined;
    }
    return named.length > 0 ? `differs in ${[...new Set(named)].sort().join(", ")}` : step.op;
}

export function lookAtDrift(stack: string, ownKey: boolean): Drift[] {
    const resources = exportState(stack);
    if (resources.length === 0) throw new LookFailed(`stack ${stack} has no resources in its state: nothing to compare (pulumi up first)`);
    // The containers the look on the VPS named are left out of the refresh, which would name
    // them again less readably (a stopped one as `mustRun`, one made again as gone).
    const containers = containerDrift(resources, stack, ownKey);
    const exclude = containers.flatMap((d) => (d.urn ? [d.urn] : []));
    return [...containers, ...commandDrift(resources, stack, ownKey), ...refreshDrift(stack, exclude)];
}

function report(stack: string, drifts: Drift[]): void {
    if (drifts.length === 0) {
        console.log(`drift: stack ${stack}: no drift (containers, firewall, host bootstrap and a refresh all match the state)`);
        return;
    }
    console.log(`drift: stack ${stack}: ${drifts.length} difference(s) between the VPS and what Pulumi last applied:`);
    for (const d of drifts) console.log(`  - ${d.what}: ${d.detail}`);
}

function repair(stack: string, ownKey: boolean, drifts: Drift[]): void {
    const replace = new Set<string>();
    for (const d of drifts) {
        const step = d.repair;
        if (!step) continue;
        if (step.kind === "remove-container") {
            console.log(`repair: removing ${step.name}, made by hand under a managed name (pulumi up makes it again)`);
            const r = onVps(stack, ownKey, `if [ "$(id -u)" = 0 ]; then docker rm -f ${shellQuote(step.name)}; else sudo -n docker rm -f ${shellQuote(step.name)}; fi`);
            if (r.status !== 0) throw new LookFailed(`cannot remove ${step.name}:\n${lastLines(r.stderr)}`);
        } else if (step.kind === "rerun") {
            console.log(`repair: running ${d.what} again as the state records it`);
            const r = onVps(stack, ownKey, step.command, step.stdin);
            if (r.status !== 0) throw new LookFailed(`${d.what} failed when run again (exit ${r.status}):\n${lastLines(r.stdout + r.stderr)}`);
            console.log(lastLines(r.stdout, 3).replace(/^/gm, "  "));
        } else {
            replace.add(step.urn);
        }
    }
    const args = ["up", "--stack", stack, "--refresh", "--yes", "--skip-preview", "--non-interactive", ...[...replace].flatMap((urn) => ["--replace", urn])];
    console.log(`repair: pulumi up --refresh${[...replace].map((u) => ` --replace ${resourceName(u)}`).join("")}`);
    const r = pulumi(args);
    if (r.status !== 0) throw new LookFailed(`pulumi up failed (exit ${r.status}):\n${lastLines(r.stdout + r.stderr, 25)}`);
}

export function main(argv: string[]): number {
    const stack = argv.find((a) => !a.startsWith("-"));
    const unknown = argv.filter((a) => a.startsWith("-") && a !== "--repair" && a !== "--own-key");
    if (!stack || !/^[a-z0-9-]+$/.test(stack) || unknown.length > 0 || argv.filter((a) => !a.startsWith("-")).length !== 1) {
        console.error("usage: npm run drift -- STACK [--repair] [--own-key]");
        return EXIT.usage;
    }
    const ownKey = argv.includes("--own-key");
    try {
        let drifts = lookAtDrift(stack, ownKey);
        report(stack, drifts);
        if (drifts.length === 0) return EXIT.clean;
        if (!argv.includes("--repair")) {
            console.log(`To put it back: npm run drift -- ${stack} --repair (runbook: INFRASTRUCTURE.md, Drift)`);
            return EXIT.drifted;
        }
        repair(stack, ownKey, drifts);
        drifts = lookAtDrift(stack, ownKey);
        console.log("after the repair:");
        report(stack, drifts);
        return drifts.length === 0 ? EXIT.clean : EXIT.drifted;
    } catch (error) {
        if (!(error instanceof LookFailed)) throw error;
        console.error(`drift: ${error.message}`);
        return EXIT.failed;
    }
}

if (require.main === module) process.exit(main(process.argv.slice(2)));
