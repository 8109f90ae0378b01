import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ImageSource } from "../../config";
import { REPO_ROOT, sha256, shellQuote } from "./naming";

/** Files and folders of a build context that are neither hashed nor sent to the host. */
const CONTEXT_EXCLUDES = ["node_modules", ".git"];

/** Hash of every file under a build context, so the image tag changes exactly when the context does. */
export function contextHash(dir: string): string {
    const files: string[] = [];
    const walk = (d: string) => {
        for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            if (CONTEXT_EXCLUDES.includes(entry.name)) continue;
            const full = path.join(d, entry.name);
            if (entry.isDirectory()) walk(full);
            else files.push(`${path.relative(dir, full)}\0${sha256(fs.readFileSync(full, "latin1"))}`);
        }
    };
    walk(dir);
    return sha256(files.join("\n"));
}

/** How a build context reaches the VPS: `ssh` up to the target (Host.sshCommand), and whether docker needs sudo. */
export interface BuildHost {
    sshCommand: pulumi.Input<string>;
    sudo: boolean;
}

/**
 * The image a service runs: a registry reference pulled onto the host (kept there on
 * delete, so a rollback does not need the registry), or a build context built on the
 * host and tagged with the hash of its content (never untagged, never `latest`).
 * Returns what a container's `image` takes.
 */
export function serviceImage(
    name: string,
    source: ImageSource | string,
    tagPrefix: string,
    opts: pulumi.CustomResourceOptions,
    buildHost?: BuildHost,
): pulumi.Output<string> {
    const resolved: ImageSource = typeof source === "string" ? { kind: "image", ref: source } : source;
    if (resolved.kind === "image") {
        return new docker.RemoteImage(name, { name: resolved.ref, keepLocally: true }, opts).imageId;
    }
    if (!buildHost) throw new Error(`${name}: a build context (${resolved.context}) needs the host to build on`);
    const context = path.resolve(REPO_ROOT, resolved.context);
    const tag = `${tagPrefix}:ctx-${contextHash(context).slice(0, 16)}`;
    // Built on the VPS by its own Docker engine, the context sent as a tar on ssh's stdin (the
    // way backup-image.sh builds the backup image there): no registry, no image leaves the
    // host. A tag already there is not built again; a new context is a new tag.
    const dockerCli = `${buildHost.sudo ? "sudo -n " : ""}docker`;
    // An image already there still reads the tar to its end: tar must not die of a closed pipe.
    const remote = `if ${dockerCli} image inspect ${tag} >/dev/null 2>&1; then echo "image ${tag} is already on the host"; cat >/dev/null; else ${dockerCli} build --tag ${tag} -; fi`;
    const tar = ["tar", "-C", context, ...CONTEXT_EXCLUDES.map((e) => `--exclude=${e}`), "-cf", "-", "."].map(shellQuote).join(" ");
    const build = new command.local.Command(
        name,
        {
            create: pulumi.interpolate`bash -c ${pulumi.output(buildHost.sshCommand).apply((ssh) => shellQuote(`set -euo pipefail; ${tar} | ${ssh} ${shellQuote(remote)}`))}`,
            triggers: [tag],
            logging: "stdoutAndStderr",
        },
        opts,
    );
    return build.stdout.apply(() => tag);
}
