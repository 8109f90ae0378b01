import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** Root of the repository (components/ and tools/ sit under it). */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export function sha256(text: string): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

/** Reads a script shipped to the VPS: it lives beside the component that runs it, components/<area>/<name>. */
export function readScript(name: string): string {
    const areas = fs.readdirSync(path.join(REPO_ROOT, "components")).filter((area) => fs.existsSync(path.join(REPO_ROOT, "components", area, name)));
    if (areas.length !== 1) throw new Error(`expected one components/<area>/${name}, found ${areas.length}`);
    return fs.readFileSync(path.join(REPO_ROOT, "components", areas[0], name), "utf8");
}

/** Quotes a string for a POSIX shell command line (single quotes). */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'"'"'`)}'`;
}

/**
 * A command line that runs a script from tools/ on the VPS with bash, passing the
 * script's text as an argument so that stdin stays free for secrets. The text is no
 * secret; with `sudo` the script runs as root for a non-root SSH user.
 */
export function scriptCommand(
    name: string,
    args: readonly string[],
    opts: { sudo: boolean; env?: Record<string, string>; /** Variables of the SSH session to hand through sudo (which drops them). */ passEnv?: string[] },
): string {
    const env = [
        ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${shellQuote(v)}`),
        // Expanded by the remote shell, so the value is the session's own.
        ...(opts.passEnv ?? []).map((k) => `${k}="\${${k}:-}"`),
    ];
    const runner = [...(opts.sudo ? ["sudo", "-n"] : []), ...(env.length > 0 ? ["env", ...env] : [])];
    return [...runner, "bash", "-c", shellQuote(readScript(name)), shellQuote(name), ...args.map(shellQuote)].join(" ");
}
