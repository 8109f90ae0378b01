// Scripts that run on the VPS are shipped as files: each one is written to the host by
// its own command resource (stdin into a root-owned file named by its content hash),
// and the commands that use it run that file. No script text is ever a command-line
// argument, so there is no size ceiling (Linux caps one argument at 128 KiB), and a
// preview shows a changed script as its upload being replaced, with the text's diff.
// Settings reach every script one way: KEY=VALUE lines on stdin (settingsText), read by
// components/shared/settings.sh, which is inlined into each script when it is shipped.
import * as command from "@pulumi/command";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { REPO_ROOT, sha256, shellQuote } from "./naming";

/** Where shipped scripts live on the VPS: root-owned, one file per version, `<name>-<first 16 hex of sha256>`. */
export const SCRIPTS_DIR = "/var/lib/byte-runner/scripts";
/** Versions of one script an upload keeps on the host (the newest); older ones are removed. */
export const KEPT_VERSIONS = 5;
/** Exit status of a command whose script is missing on the host (or differs from its upload). */
export const SCRIPT_MISSING_STATUS = 127;
/** The runbook entry (INFRASTRUCTURE.md) that error messages point to. */
export const MISSING_SCRIPT_RUNBOOK = "An uploaded script is missing on the host";

/** The line a VPS script sources a shared library with; shipping inlines the library there. */
const SOURCE_LINE = /^source "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)\/\.\.\/(shared\/[a-z0-9-]+\.sh)"$/;

/**
 * The text shipped for `components/<file>` (or an absolute path): the script with each
 * shared library it sources (components/shared/*.sh) inlined, so the host needs no
 * second file and the hash covers the library too. Any other `source` is refused: it
 * would not be there.
 */
export function shippedText(file: string): string {
    const text = fs.readFileSync(path.resolve(REPO_ROOT, "components", file), "utf8");
    return text
        .split("\n")
        .map((line) => {
            const library = SOURCE_LINE.exec(line)?.[1];
            if (library) {
                const body = fs.readFileSync(path.join(REPO_ROOT, "components", library), "utf8").trimEnd();
                return `# --- components/${library}, inlined when shipped ---\n${body}\n# --- end of components/${library} ---`;
            }
            if (/^\s*(source|\.)\s/.test(line)) throw new Error(`${file}: only components/shared/*.sh may be sourced, as "$(dirname "\${BASH_SOURCE[0]}")/../shared/<name>.sh": ${line}`);
            return line;
        })
        .join("\n");
}

/** KEY=VALUE lines, the settings format every VPS script reads on stdin. */
export function settingsText(settings: Record<string, string | number>): string {
    return Object.entries(settings)
        .map(([key, value]) => {
            if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new Error(`setting name ${JSON.stringify(key)} is not UPPER_CASE`);
            const text = String(value);
            // The value itself is not shown: it may be a secret.
            if (/[\r\n]/.test(text)) throw new Error(`setting ${key}: a value cannot span lines`);
            return `${key}=${text}\n`;
        })
        .join("");
}

/** The host a script is shipped to and run on. */
export interface VpsTarget {
    connection: command.types.input.remote.ConnectionArgs;
    /** True for a non-root SSH user: uploads and runs go through `sudo -n`. */
    sudo: boolean;
}

// Writes stdin to `$1` (aside, checked against sha256 `$2`, then renamed), keeps the newest `$3`
// versions of script `$0`, and removes temporary files a cut-off upload left behind.
const UPLOAD = [
    `set -eu; f=$1 sum=$2 keep=$3; d=\${f%/*}; umask 022; mkdir -p "$d"; chmod 755 "$d"`,
    `t=$(mktemp "$d/.upload.XXXXXX"); trap 'rm -f "$t"' EXIT; cat >"$t"`,
    `if ! printf '%s  %s\\n' "$sum" "$t" | sha256sum --check --status; then echo "byte-runner: the upload of $0 arrived incomplete or changed (its sha256 is not $sum); nothing was replaced" >&2; exit 1; fi`,
    `chmod 644 "$t"; mv -f "$t" "$f"; trap - EXIT`,
    `ls -1t "$d/$0"-* | tail -n +$((keep + 1)) | xargs -r rm -f --; find "$d" -maxdepth 1 -name '.upload.*' -mmin +60 -delete`,
    `echo "byte-runner: $0 is at $f"`,
].join("; ");

// Runs `$1` with bash and the remaining arguments, stdin passed through, after checking
// that it is the file uploaded (sha256 `$2`); if not, names the upload `$3` to replace.
const RUN = [
    `f=$1 sum=$2 upload=$3; shift 3`,
    `if ! printf '%s  %s\\n' "$sum" "$f" | sha256sum --check --status 2>/dev/null; then echo "byte-runner: $0 is missing on this host, or is not the file that was uploaded: $f (sha256 $sum). Upload it again with: pulumi up --replace '$upload'; then run pulumi up again. Runbook: INFRASTRUCTURE.md, ${MISSING_SCRIPT_RUNBOOK}." >&2; exit ${SCRIPT_MISSING_STATUS}; fi`,
    `exec bash "$f" "$@"`,
].join("; ");

/** A script's identity on the VPS. */
export interface ScriptFile {
    /** File name, e.g. firewall.sh. */
    name: string;
    sha256: string;
    /** Where it is on the VPS: SCRIPTS_DIR/<name>-<first 16 hex of sha256>. */
    path: string;
}

export function scriptFile(name: string, text: string): ScriptFile {
    const hash = sha256(text);
    return { name, sha256: hash, path: `${SCRIPTS_DIR}/${name}-${hash.slice(0, 16)}` };
}

/** The command line that writes its stdin (the script's text) to `script.path`, as root. */
export function uploadCommand(script: ScriptFile, sudo: boolean): string {
    return [...sudoPrefix(sudo), "bash", "-c", shellQuote(UPLOAD), script.name, script.path, script.sha256, String(KEPT_VERSIONS)].join(" ");
}

/**
 * The command line that runs `script.path` as root with `args` (a mode such as --apply,
 * never a value: settings go on stdin), once it has checked the file is the one
 * uploaded; if not, it fails naming `uploadUrn`, the resource to replace. `passEnv`
 * names variables of the SSH session to hand through sudo, which would drop them.
 */
export function runCommand(script: ScriptFile, uploadUrn: string, args: string[], passEnv: string[], sudo: boolean): string {
    const env = passEnv.map((k) => `${k}="\${${k}:-}"`);
    return [...sudoPrefix(sudo), ...(env.length > 0 ? ["env", ...env] : []), "bash", "-c", shellQuote(RUN), script.name, script.path, script.sha256, shellQuote(uploadUrn), ...args.map(shellQuote)].join(" ");
}

function sudoPrefix(sudo: boolean): string[] {
    return sudo ? ["sudo", "-n"] : [];
}

/**
 * A script from components/ shipped to the VPS as a file. The upload is a command
 * resource whose trigger is the script's hash: a changed script is a replacement that
 * writes the new version beside the old, and the commands that run it change with its
 * path. The file is never deleted by Pulumi (the commands still in the state may need
 * it, e.g. the firewall's --remove); each upload keeps the newest KEPT_VERSIONS.
 */
export class ShippedScript implements ScriptFile {
    public readonly name: string;
    public readonly sha256: string;
    public readonly path: string;
    public readonly upload: command.remote.Command;
    private readonly sudo: boolean;

    /** `file` is relative to components/, e.g. firewall/firewall.sh. */
    constructor(resourceName: string, file: string, target: VpsTarget, opts: pulumi.CustomResourceOptions) {
        const text = shippedText(file);
        ({ name: this.name, sha256: this.sha256, path: this.path } = scriptFile(path.basename(file), text));
        this.sudo = target.sudo;
        this.upload = new command.remote.Command(
            resourceName,
            { connection: target.connection, create: uploadCommand(this, target.sudo), stdin: text, triggers: [this.sha256] },
            opts,
        );
    }

    /** runCommand for this script and its upload. */
    public command(args: string[] = [], passEnv: string[] = []): pulumi.Output<string> {
        return this.upload.urn.apply((urn) => runCommand(this, urn, args, passEnv, this.sudo));
    }
}

/** What runCommand was given, read back from a command line it made. */
export interface RunCommandParts {
    script: ScriptFile;
    uploadUrn: string;
    args: string[];
    passEnv: string[];
    sudo: boolean;
}

/**
 * Reads back what runCommand made a command line from (a command resource's `create` as
 * the state records it), so that a tool can run the same shipped script in another mode
 * (npm run drift: --check). Undefined for a line runCommand did not make.
 */
export function parseRunCommand(line: string): RunCommandParts | undefined {
    const marker = ` bash -c ${shellQuote(RUN)} `;
    const at = ` ${line}`.indexOf(marker);
    if (at < 0) return undefined;
    const head = line.slice(0, at).split(" ").filter((word) => word !== "");
    const sudo = head[0] === "sudo" && head[1] === "-n";
    const envWords = head.slice(sudo ? 2 : 0);
    if (envWords.length > 0 && envWords.shift() !== "env") return undefined;
    const passEnv = envWords.map((word) => /^([A-Z_][A-Z0-9_]*)="\$\{\1:-\}"$/.exec(word)?.[1]);
    if (passEnv.some((name) => name === undefined)) return undefined;
    const tail = /^(\S+) (\S+) ([0-9a-f]{64})((?: '(?:[^']|'"'"')*')+)$/.exec(line.slice(at + marker.length - 1));
    if (!tail) return undefined;
    const quoted = [...tail[4].matchAll(/ '((?:[^']|'"'"')*)'/g)].map((m) => m[1].replace(/'"'"'/g, "'"));
    const [name, file, hash] = [tail[1], tail[2], tail[3]];
    if (file !== `${SCRIPTS_DIR}/${name}-${hash.slice(0, 16)}`) return undefined;
    return { script: { name, path: file, sha256: hash }, uploadUrn: quoted[0], args: quoted.slice(1), passEnv: passEnv as string[], sudo };
}
