// Every shell script that runs on the VPS or in the harness is shellcheck-clean and shfmt-formatted.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { REPO } from "../tools/graph";

/** Shell scripts under components/ (run on the VPS) and tools/ (the harness): *.sh, and extensionless files with a bash shebang. */
export function shellScripts(): string[] {
    const found: string[] = [];
    const walk = (dir: string) => {
        for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
            const full = path.join(dir, entry.name);
            if (entry.isDirectory()) walk(full);
            else if (entry.name.endsWith(".sh") || (!entry.name.includes(".") && fs.readFileSync(full, "utf8").startsWith("#!/usr/bin/env bash"))) found.push(full);
        }
    };
    walk(path.join(REPO, "components"));
    walk(path.join(REPO, "tools"));
    return found.sort();
}

describe("shell scripts", () => {
    it("are shellcheck-clean", () => {
        const scripts = shellScripts();
        assert.ok(scripts.length >= 3, "expected the bootstrap, roles and other scripts");
        const result = spawnSync("shellcheck", ["--severity=style", "--external-sources", "--source-path=SCRIPTDIR", ...scripts], { encoding: "utf8" });
        assert.notEqual(result.error?.message.includes("ENOENT"), true, "shellcheck is not installed (tools/install-deps.sh installs it)");
        assert.equal(result.status, 0, result.stdout + result.stderr);
    });

    it("all share one indentation style (shfmt, settings in .editorconfig)", () => {
        const result = spawnSync("shfmt", ["-d", ...shellScripts()], { encoding: "utf8", cwd: REPO });
        assert.notEqual(result.error?.message.includes("ENOENT"), true, "shfmt is not installed (tools/install-deps.sh installs it)");
        assert.equal(result.status, 0, `run shfmt -w on these files:\n${result.stdout}${result.stderr}`);
    });

    it("all start with set -euo pipefail", () => {
        for (const script of shellScripts()) {
            const text = fs.readFileSync(script, "utf8");
            // Sourced libraries (no shebang) must not change the caller's shell options.
            if (text.startsWith("# shellcheck shell=")) continue;
            assert.match(text, /^set -E?euo pipefail$/m, path.relative(REPO, script));
        }
    });
});
