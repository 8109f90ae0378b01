// The offline graph: runs the real program (index.ts) under Pulumi's mocks with a stack's
// committed config and placeholder secrets, and records every resource registered:
// type, name, parent, dependencies, provider and inputs, secrets shown as "[secret]".
// `npm run graph -- <stack>` prints it; the tests assert on it. No engine, no network.
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { PROJECT } from "../config";

/* eslint-disable @typescript-eslint/no-require-imports */
const settings = require("@pulumi/pulumi/runtime/settings");
const rpc = require("@pulumi/pulumi/runtime/rpc");
/* eslint-enable @typescript-eslint/no-require-imports */

export const REPO = path.resolve(__dirname, "..");
export const SECRET = "[secret]";
export const UNKNOWN = "[unknown]";

export interface GraphResource {
    type: string;
    name: string;
    /** Name of the parent resource (the stack for top-level components). */
    parent: string | null;
    /** Names of the resources it explicitly or implicitly depends on. */
    dependsOn: string[];
    /** Name of the explicit provider, if any. */
    provider: string | null;
    retainOnDelete: boolean;
    deleteBeforeReplace: boolean;
    inputs: Record<string, unknown>;
    /** The same inputs with secrets revealed: for assertions only, never printed. */
    revealed: Record<string, unknown>;
    /** What a component registered with registerOutputs, in wire form (not printed), or undefined. */
    registeredOutputs?: Record<string, unknown>;
}

export interface Graph {
    resources: GraphResource[];
    outputs: Record<string, unknown>;
    /** Every secret value the mocks produced or the config held, to search plain fields for. */
    secretValues: string[];
}

export interface StackConfigInput {
    /** key (no namespace) -> value as Pulumi stores it. */
    values: Record<string, string>;
    /** keys set with --secret. */
    secretKeys: string[];
}

/** A complete private key (config refuses anything less), made afresh per process: it logs in nowhere. */
export const PLACEHOLDER_SSH_KEY = crypto.generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();

/** A stack's committed config, with each `secure:` value replaced by a placeholder, and the secrets it calls for (secretsToFill) added as placeholders. */
export function committedConfig(stack: string): StackConfigInput & { filled: string[] } {
    const file = path.join(REPO, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) throw new Error(`no stack file Pulumi.${stack}.yaml`);
    const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
    const values: Record<string, string> = {};
    const secretKeys: string[] = [];
    for (const [fullKey, v] of Object.entries(doc.config ?? {})) {
        if (!fullKey.startsWith(`${PROJECT}:`)) continue;
        const key = fullKey.slice(PROJECT.length + 1);
        if (v !== null && typeof v === "object" && "secure" in (v as object)) {
            values[key] = key === "hostSshPrivateKey" ? PLACEHOLDER_SSH_KEY : `placeholder-${key}`;
            secretKeys.push(key);
        } else {
            values[key] = typeof v === "string" ? v : JSON.stringify(v);
        }
    }
    // Secrets the committed file cannot hold until a team sets its own.
    if (!("hostSshPrivateKey" in values)) {
        values["hostSshPrivateKey"] = PLACEHOLDER_SSH_KEY;
        secretKeys.push("hostSshPrivateKey");
    }
    const filled = secretsToFill(values);
    for (const key of filled) {
        values[key] = `placeholder-${key}`;
        secretKeys.push(key);
    }
    return { values, secretKeys, filled };
}

/**
 * The secrets a committed stack's settings call for that its file cannot hold until a team
 * sets its own (an offsite store needs its keys; an SMTP user its password). The offline graph
 * and tools/preview.sh (through `npm run graph -- --secrets-to-fill <stack>`) fill them with
 * placeholders.
 */
export function secretsToFill(values: Record<string, string>): string[] {
    const needed = [
        ...(values["backupOffsiteEndpoint"] ? ["backupOffsiteAccessKeyId", "backupOffsiteSecretAccessKey"] : []),
        ...(values["alertSmtpUsername"] ? ["alertSmtpPassword"] : []),
    ];
    return needed.filter((key) => !(key in values));
}

const SECRET_SIG_KEY = rpc.specialSigKey as string;
const SECRET_SIG = rpc.specialSecretSig as string;
const RESOURCE_SIG = rpc.specialResourceSig as string;

/** Replaces unknowns and resource references in a raw RPC value; secrets masked or revealed. */
function present(value: unknown, urnToName: Map<string, string>, reveal: boolean): unknown {
    if (value === rpc.unknownValue) return UNKNOWN;
    if (Array.isArray(value)) return value.map((v) => present(v, urnToName, reveal));
    if (value !== null && typeof value === "object") {
        const obj = value as Record<string, unknown>;
        if (obj[SECRET_SIG_KEY] === SECRET_SIG) return reveal ? present(obj.value, urnToName, reveal) : SECRET;
        if (obj[SECRET_SIG_KEY] === RESOURCE_SIG) return `[resource ${urnToName.get(String(obj.urn)) ?? obj.urn}]`;
        return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, present(v, urnToName, reveal)]));
    }
    return value;
}

/** Values the mocks hand out for generated secrets: distinctive, so a leak is easy to find. */
function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
    switch (type) {
        case "random:index/randomPassword:RandomPassword":
            return { ...inputs, result: `mockpw${name.replace(/[^A-Za-z0-9]/g, "")}XYZ0123456789` };
        case "random:index/randomBytes:RandomBytes":
            return { ...inputs, hex: Buffer.from(`mockbytes-${name}`.padEnd(32, "x").slice(0, 32)).toString("hex"), base64: "bW9jaw==" };
        case "random:index/randomId:RandomId":
            // Stands for the per-release id of an app's container: hex of byteLength bytes.
            return { ...inputs, hex: Buffer.from(`${name}`.padEnd(Number(inputs.byteLength), "x").slice(0, Number(inputs.byteLength))).toString("hex") };
        case "docker:index/remoteImage:RemoteImage":
            return { ...inputs, imageId: `sha256:mock-${name}`, repoDigest: `${inputs.name}@sha256:mock` };
        case "docker:index/container:Container":
            return { ...inputs, networkDatas: [{ ipAddress: "172.30.0.2", networkName: "internal" }] };
        case "command:remote:Command":
            return { ...inputs, stdout: "", stderr: "" };
        default:
            return inputs;
    }
}

/** Runs index.ts under mocks for `stack` with `config`; throws what the program throws. */
export async function buildGraph(
    stack: string,
    config: StackConfigInput = committedConfig(stack),
    /** Called with the types registered so far, also when the program throws. */
    observe?: (types: string[]) => void,
): Promise<Graph> {
    const secretValues = config.secretKeys.map((k) => config.values[k]);
    await pulumi.runtime.setMocks(
        {
            newResource: (args) => {
                const state = mockState(args.type, args.name, args.inputs);
                if (args.type === "random:index/randomPassword:RandomPassword") secretValues.push(String(state.result));
                if (args.type === "random:index/randomBytes:RandomBytes") secretValues.push(String(state.hex));
                return { id: `${args.name}-id`, state };
            },
            call: (args) => args.inputs,
        },
        PROJECT,
        stack,
        false,
    );
    pulumi.runtime.setAllConfig(
        Object.fromEntries(Object.entries(config.values).map(([k, v]) => [`${PROJECT}:${k}`, v])),
        config.secretKeys.map((k) => `${PROJECT}:${k}`),
    );

    const raw: { type: string; name: string; parent: string; deps: string[]; provider: string; retain: boolean; deleteFirst: boolean; object: unknown }[] = [];
    const monitor = settings.getMonitor();
    const original = monitor.registerResource.bind(monitor);
    // The request is the engine's protobuf message; only its getters are used here.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    monitor.registerResource = (req: any, callback: unknown) => {
        const parent = req.getParent() as string;
        const type = req.getType() as string;
        const name = req.getName() as string;
        raw.push({
            type,
            name,
            parent,
            deps: req.getDependenciesList(),
            provider: req.getProvider(),
            retain: Boolean(req.getRetainondelete?.()),
            deleteFirst: Boolean(req.getDeletebeforereplace?.()),
            object: req.getObject()?.toJavaScript() ?? {},
        });
        return original(req, callback);
    };
    const registeredOutputs = new Map<string, unknown>();
    const originalOutputs = monitor.registerResourceOutputs.bind(monitor);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    monitor.registerResourceOutputs = (req: any, callback: unknown) => {
        registeredOutputs.set(req.getUrn(), req.getOutputs()?.toJavaScript() ?? {});
        return originalOutputs(req, callback);
    };

    // A fresh copy of the program for every run, and nowhere real to write SSH files to
    // (a stable path within this process: it is part of the Docker provider's settings, like
    // on a real machine; one per process, as test files build graphs in parallel).
    const sshDir = path.join(os.tmpdir(), `byte-runner-infra-graph-${process.pid}`, stack, "ssh");
    process.env.BYTE_RUNNER_SSH_DIR = sshDir;
    const programPath = require.resolve(path.join(REPO, "index.ts"));
    let outputs: Record<string, unknown>;
    try {
        const result = await pulumi.runtime.runInPulumiStack(async () => {
            delete require.cache[programPath];
            // eslint-disable-next-line @typescript-eslint/no-require-imports
            return require(programPath);
        });
        await settings.waitForRPCs?.();
        outputs = (result ?? {}) as Record<string, unknown>;
    } finally {
        observe?.(raw.map((r) => r.type));
        fs.rmSync(path.dirname(path.dirname(sshDir)), { recursive: true, force: true });
        delete process.env.BYTE_RUNNER_SSH_DIR;
    }

    // URNs from the monitor: parent URN + type + name identify each resource.
    const registered: Map<string, unknown> = monitor.getRegisteredResources?.() ?? new Map();
    const urnToName = new Map<string, string>();
    for (const urn of registered.keys()) urnToName.set(urn, urn.split("::").pop() ?? urn);
    // A provider reference is "<urn>::<id>"; the URN's last part is the provider's name.
    const providerName = (ref: string) => ref.split("::").slice(-2)[0];
    // A URN ends with ::<parent types$>type::name.
    const outputsOf = (r: { type: string; name: string }) => {
        const urn = [...registeredOutputs.keys()].find((u) => u.endsWith(`::${r.name}`) && u.split("::").slice(-2)[0].split("$").pop() === r.type);
        return urn === undefined ? undefined : registeredOutputs.get(urn);
    };
    const resources = raw.map((r) => ({
        type: r.type,
        name: r.name,
        parent: r.parent ? (urnToName.get(r.parent) ?? r.parent.split("::").pop() ?? null) : null,
        dependsOn: [...new Set(r.deps.map((d) => urnToName.get(d) ?? d.split("::").pop() ?? d))].sort(),
        provider: r.provider ? providerName(r.provider) : null,
        retainOnDelete: r.retain,
        deleteBeforeReplace: r.deleteFirst,
        inputs: present(r.object, urnToName, false) as Record<string, unknown>,
        revealed: present(r.object, urnToName, true) as Record<string, unknown>,
        registeredOutputs: outputsOf(r) as Record<string, unknown> | undefined,
    }));
    return { resources, outputs, secretValues };
}

/** The graph as reviewers read it: every resource, no secret. */
export function printable(graph: Graph): object[] {
    return graph.resources.map(({ type, name, parent, dependsOn, provider, retainOnDelete, deleteBeforeReplace, inputs }) => ({
        type,
        name,
        parent,
        dependsOn,
        provider,
        retainOnDelete,
        deleteBeforeReplace,
        inputs,
    }));
}
