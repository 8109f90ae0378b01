import * as docker from "@pulumi/docker";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ImageSource } from "../../config";
import { REPO_ROOT, sha256 } from "./naming";

/** Hash of every file under a build context, so the image tag changes exactly when the context does. */
export function contextHash(dir: string): string {
    const files: string[] = [];
    const walk = (d: string) => {
        for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
            if (entry.name === "node_modules" || entry.name === ".git") continue;
            const full = path.join(d, entry.name);
            if (entry.isDirectory()) walk(full);
            else files.push(`${path.relative(dir, full)}\0${sha256(fs.readFileSync(full, "latin1"))}`);
        }
    };
    walk(dir);
    return sha256(files.join("\n"));
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
): pulumi.Output<string> {
    const resolved: ImageSource = typeof source === "string" ? { kind: "image", ref: source } : source;
    if (resolved.kind === "image") {
        return new docker.RemoteImage(name, { name: resolved.ref, keepLocally: true }, opts).imageId;
    }
    const context = path.resolve(REPO_ROOT, resolved.context);
    const image = new docker.Image(
        name,
        {
            imageName: `${tagPrefix}:ctx-${contextHash(context).slice(0, 16)}`,
            build: { context, platform: "linux/amd64" },
            skipPush: true,
        },
        opts,
    );
    return image.imageName;
}
