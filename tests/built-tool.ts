// The programs tools/local-vps/go-build.sh builds from their Go modules because nothing
// reachable here has the release a stack pins (Caddy, Alertmanager's amtool): which binary a
// test runs, or why there is none. The choice: the variable the caller names (a path), else
// the one go-build.sh built (its --path), else the program on PATH; its version must be the
// pinned image's major.minor, or the test would check against another release.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

const REPO = path.resolve(__dirname, "..");

export interface BuiltTool {
    /** The environment whose PATH finds the binary first. */
    env: NodeJS.ProcessEnv;
    /** Why there is no usable binary, when there is none. */
    missing?: string;
}

export interface BuiltToolSpec {
    /** go-build.sh's name for the module's build (caddy, alertmanager). */
    program: string;
    /** The binary a test runs (caddy, amtool). */
    binary: string;
    /** The variable that may name a binary to use instead. */
    envVar: string;
    /** The pinned image and the pattern whose first group is its major.minor. */
    image: string;
    imageVersion: RegExp;
    /** How the binary prints its version, and what that output starts with for major.minor M. */
    versionArgs: string[];
    versionPrefix: (majorMinor: string) => string;
}

export function builtTool(spec: BuiltToolSpec): BuiltTool {
    const wanted = spec.imageVersion.exec(spec.image)?.[1];
    if (!wanted) return { env: process.env, missing: `the image ${spec.image} names no ${spec.binary} version this test can check` };
    const build = `bash tools/local-vps/go-build.sh ${spec.program}`;
    let binary = process.env[spec.envVar];
    const how = binary ? spec.envVar : `${build} --path`;
    if (!binary) {
        const built = spawnSync("bash", [path.join(REPO, "tools", "local-vps", "go-build.sh"), spec.program, "--path"], { encoding: "utf8" });
        if (built.status === 0) binary = built.stdout.split("\n").find((line) => path.basename(line) === spec.binary);
    }
    if (binary && path.basename(binary) !== spec.binary) return { env: process.env, missing: `${how} names ${binary}, which must be a file named ${spec.binary}` };
    if (binary && !isExecutable(binary)) return { env: process.env, missing: `${how} names ${binary}, which is not an executable file` };
    const env = binary ? { ...process.env, PATH: `${path.dirname(binary)}:${process.env.PATH ?? ""}` } : process.env;
    const version = spawnSync(spec.binary, spec.versionArgs, { encoding: "utf8", env });
    const source = binary ? `${binary} (${how})` : `${spec.binary} on PATH`;
    if (version.error) return { env, missing: `no ${spec.binary} ${wanted}: ${source} cannot run (${version.error.message}); build it with ${build}` };
    const printed = `${version.stdout}${version.stderr}`;
    if (!printed.startsWith(spec.versionPrefix(wanted))) {
        return { env, missing: `${source} says '${printed.split("\n")[0]}', not ${spec.binary} ${wanted} as the image ${spec.image}; build it with ${build} or set ${spec.envVar}` };
    }
    return { env };
}

function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}
