import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { readScript, REPO_ROOT, scriptCommand, sha256 } from "../shared/naming";
import { childOf } from "../shared/options";

export interface HostArgs {
    address: string;
    /** SSH port. Default 22. */
    sshPort?: number;
    /** root, or a user with passwordless sudo. Default root. */
    sshUser?: string;
    /** Private key, a secret from `pulumi config set --secret hostSshPrivateKey`. */
    sshPrivateKey: pulumi.Input<string>;
    /** The host's public key line, pinned: connections to any other key fail. */
    sshHostKey: string;
    /** Swap file in MiB made by the bootstrap; 0 for none. Default 2048 (an 8 GB VPS). */
    swapMb?: number;
    /** Docker log rotation written to /etc/docker/daemon.json. Default 10 MiB x 5 files. */
    logMaxSizeMb?: number;
    logMaxFiles?: number;
    /**
     * Directory where the private key (0600) and the pinned known_hosts for Docker's ssh://
     * transport are written on the machine running Pulumi. Relative paths are relative to
     * the project (the providers run there), so the Docker provider's settings stay the
     * same for every operator and CI; the directory is gitignored (.state/).
     */
    sshDir: string;
}

/** Where the bootstrap script lives in tools/. */
export const BOOTSTRAP_SCRIPT = "bootstrap-host.sh";

/** known_hosts line for the host, as ssh looks it up (non-default ports in brackets). */
export function knownHostsLine(address: string, port: number, hostKey: string): string {
    const name = port === 22 ? address : `[${address}]:${port}`;
    return `${name} ${hostKey}`;
}

/**
 * The VPS: how to reach it over SSH, its one-time (and re-runnable) bootstrap, and a
 * Docker provider over ssh:// that nothing can use before the bootstrap finished.
 */
export class Host extends pulumi.ComponentResource {
    public readonly connection: command.types.input.remote.ConnectionArgs;
    public readonly bootstrap: command.remote.Command;
    public readonly docker: docker.Provider;
    /** True when commands need `sudo -n` (non-root SSH user). */
    public readonly sudo: boolean;
    public readonly sshTarget: string;

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:host:Host", name, {}, opts);
        const a = { sshPort: 22, sshUser: "root", swapMb: 2048, logMaxSizeMb: 10, logMaxFiles: 5, ...args };
        this.sudo = a.sshUser !== "root";
        this.sshTarget = `${a.sshUser}@${a.address}`;
        this.connection = {
            host: a.address,
            port: a.sshPort,
            user: a.sshUser,
            privateKey: a.sshPrivateKey,
            hostKey: a.sshHostKey,
            dialErrorLimit: 20,
            perDialTimeout: 15,
        };

        const script = readScript(BOOTSTRAP_SCRIPT);
        this.bootstrap = new command.remote.Command(
            `${name}-bootstrap`,
            {
                connection: this.connection,
                create: scriptCommand(BOOTSTRAP_SCRIPT, [], {
                    sudo: this.sudo,
                    env: { SWAP_MB: String(a.swapMb), LOG_MAX_SIZE_MB: String(a.logMaxSizeMb), LOG_MAX_FILES: String(a.logMaxFiles) },
                }),
                // A new script, or new settings, runs the bootstrap again (it is idempotent).
                triggers: [sha256(script), a.swapMb, a.logMaxSizeMb, a.logMaxFiles],
            },
            childOf(this, opts),
        );

        // Docker's ssh:// transport runs the system ssh: give it the key and the pinned host key.
        const sshDir = path.resolve(REPO_ROOT, a.sshDir);
        const keyFile = path.join(a.sshDir, "id");
        const knownHostsFile = path.join(a.sshDir, "known_hosts");
        const sshOpts = pulumi.unsecret(
            pulumi.output(a.sshPrivateKey).apply((key) => {
                writePrivateFiles(sshDir, { id: key.endsWith("\n") ? key : `${key}\n`, known_hosts: `${knownHostsLine(a.address, a.sshPort, a.sshHostKey)}\n` });
                return [
                    "-o", "StrictHostKeyChecking=yes",
                    "-o", `UserKnownHostsFile=${knownHostsFile}`,
                    "-o", "IdentitiesOnly=yes",
                    "-o", "BatchMode=yes",
                    "-i", keyFile,
                ];
            }),
        );
        this.docker = new docker.Provider(
            `${name}-docker`,
            // An IPv6 address goes in brackets in a URL.
            { host: `ssh://${a.sshUser}@${a.address.includes(":") ? `[${a.address}]` : a.address}:${a.sshPort}`, sshOpts },
            childOf(this, opts, [this.bootstrap]),
        );
        this.registerOutputs({ sshTarget: this.sshTarget });
    }
}

/** Writes files into a 0700 directory with mode 0600, only when their content changed. */
function writePrivateFiles(dir: string, files: Record<string, string>): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.chmodSync(dir, 0o700);
    for (const [file, content] of Object.entries(files)) {
        const full = path.join(dir, file);
        if (fs.existsSync(full) && fs.readFileSync(full, "utf8") === content) continue;
        fs.writeFileSync(full, content, { mode: 0o600 });
        fs.chmodSync(full, 0o600);
    }
}
