// Generates, from the code, Pulumi.yaml's `config:` section and the tables in
// INFRASTRUCTURE.md (config keys, env vars, services, the policy pack's rules). `--check`
// exits 1 when a committed file differs from what the code says (the docs test runs this).
import * as fs from "node:fs";
import * as path from "node:path";
import { stringify } from "yaml";
import { CONFIG_KEYS, PROJECT } from "../config";
import { APP_ENV_VARS } from "../components/app/env";
import { RULES } from "../policy/rules";
import { buildGraph, REPO } from "./graph";

const PULUMI_YAML_HEAD = `# Generated config section: edit CONFIG_KEYS in config.ts, then run \`npm run docs\`.
name: ${PROJECT}
description: byte-runner on one self-hosted VPS (Docker over SSH, Postgres, PgBouncer, SuperTokens, Caddy)
runtime:
  name: nodejs
  options:
    typescript: false
    nodeargs: --import tsx
`;

export function pulumiYaml(): string {
    const config: Record<string, Record<string, unknown>> = {};
    for (const k of CONFIG_KEYS) {
        config[k.key] = {
            type: k.type,
            ...(k.type === "array" ? { items: { type: "string" } } : {}),
            description: k.description,
            ...(k.default !== undefined ? { default: k.default } : k.optional ? { default: "" } : {}),
            // An optional secret's default "" is plain text, which the engine refuses for a key
            // marked secret; config.ts refuses any non-empty plain value of it instead.
            ...(k.secret && !k.optional ? { secret: true } : {}),
        };
    }
    return `${PULUMI_YAML_HEAD}${stringify({ config }, { lineWidth: 0 })}`;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

function configTable(): string {
    const rows = CONFIG_KEYS.map((k) => {
        const def = k.secret ? "—" : k.default === undefined ? "**required**" : k.default === "" ? '`""`' : `\`${JSON.stringify(k.default)}\``;
        return `| \`${k.key}\` | ${k.type} | ${def} | ${k.secret ? "yes" : "no"} | ${cell(k.description)} |`;
    });
    return ["| key | type | default | secret | purpose |", "| --- | --- | --- | --- | --- |", ...rows].join("\n");
}

function envTable(): string {
    const rows = APP_ENV_VARS.map((v) => `| ${v.service} | \`${v.name}\` | ${v.secret ? "yes" : "no"} | ${cell(v.description)} |`);
    return ["| service | variable | secret | purpose |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

function policyTable(): string {
    const rows = RULES.map((r) => `| \`${r.name}\` | ${r.enforcement} | ${cell(r.description)} | ${cell(r.why)} |`);
    return ["| rule | level | what | why |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

interface ContainerInputs {
    ports?: { external: number; internal: number; protocol: string }[];
    networksAdvanced?: { name: string; aliases: string[] }[];
    volumes?: { volumeName?: string; hostPath?: string; containerPath: string; readOnly?: boolean }[];
    image?: string;
    memory: number;
    cpus: string;
}

async function servicesTable(): Promise<string> {
    const graph = await buildGraph("prod");
    // A service's pulled image is the RemoteImage named after its container (`<name>-image`).
    const imageOf = (container: string) => graph.resources.find((r) => r.name === `${container}-image` && r.type === "docker:index/remoteImage:RemoteImage");
    const rows = graph.resources
        .filter((r) => r.type === "docker:index/container:Container")
        .map((c) => {
            const i = c.inputs as unknown as ContainerInputs;
            // An image built on the VPS carries its tag; a pulled one is its RemoteImage's name.
            const built = typeof i.image === "string" && i.image.startsWith("byte-runner-prod/") ? i.image.replace(/^byte-runner-prod\//, "<prefix>/").replace(/:[0-9a-f]{16}$/, ":<hash>") : undefined;
            const pulled = imageOf(c.name)?.inputs.name;
            const image = built ? `\`${built}\` (built on the VPS from postgresImage)` : `\`${pulled ?? "build context"}\``;
            const ports = (i.ports ?? []).map((p) => `${p.external}->${p.internal}/${p.protocol}`).join(", ") || "none";
            const networks = (i.networksAdvanced ?? [])
                .map((n) => `${String(n.name).replace(/^byte-runner-prod-/, "")}${n.aliases.length > 0 ? ` (as ${n.aliases.join(", ")})` : ""}`)
                .join(", ");
            const volumes =
                (i.volumes ?? [])
                    .map((v) => `${v.volumeName !== undefined ? String(v.volumeName).replace(/^byte-runner-prod-/, "<prefix>-") : String(v.hostPath).replace(/byte-runner-prod/g, "<prefix>")}:${v.containerPath.replace(/byte-runner-prod/g, "<prefix>")}${v.readOnly ? " (ro)" : ""}`)
                    .join(", ") || "none";
            return `| ${c.name} | ${image} | ${ports} | ${networks} | ${volumes} | ${i.memory} MiB, ${Number(i.cpus)} CPU |`;
        });
    return ["| service | image (prod) | published ports | networks | volumes | limits (prod) |", "| --- | --- | --- | --- | --- | --- |", ...rows].join("\n");
}

/** Replaces the text between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`. */
export function fill(doc: string, name: string, body: string): string {
    const start = `<!-- generated:${name} -->`;
    const end = `<!-- /generated:${name} -->`;
    const a = doc.indexOf(start);
    const b = doc.indexOf(end);
    if (a < 0 || b < a) throw new Error(`INFRASTRUCTURE.md lacks the markers ${start} ... ${end}`);
    return `${doc.slice(0, a + start.length)}\n${body}\n${doc.slice(b)}`;
}

export async function infrastructureMd(current: string): Promise<string> {
    let doc = fill(current, "config-keys", configTable());
    doc = fill(doc, "env-vars", envTable());
    doc = fill(doc, "services", await servicesTable());
    doc = fill(doc, "policy-rules", policyTable());
    return doc;
}

async function main(): Promise<void> {
    const check = process.argv.includes("--check");
    const files: [string, string][] = [];
    const pulumiYamlPath = path.join(REPO, "Pulumi.yaml");
    files.push([pulumiYamlPath, pulumiYaml()]);
    const mdPath = path.join(REPO, "INFRASTRUCTURE.md");
    files.push([mdPath, await infrastructureMd(fs.readFileSync(mdPath, "utf8"))]);
    let drift = false;
    for (const [file, content] of files) {
        const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        if (current === content) continue;
        if (check) {
            process.stderr.write(`${path.basename(file)} is out of date with the code: run \`npm run docs\`\n`);
            drift = true;
        } else {
            fs.writeFileSync(file, content);
            process.stdout.write(`wrote ${path.basename(file)}\n`);
        }
    }
    process.exit(drift ? 1 : 0);
}

if (require.main === module) {
    main().catch((err: unknown) => {
        process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
        process.exit(1);
    });
}
