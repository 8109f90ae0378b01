import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { REPO_ROOT, shellQuote } from "../shared/naming";
import { childOf } from "../shared/options";
import { settingsText, ShippedScript } from "../shared/vps-script";

/** Every value comes from config (hostAddress, hostSshPort, ...); none has a default here. */
export interface HostArgs {
    address: string;
    sshPort: number;
    /** root, or a user with passwordless sudo. */
    sshUser: string;
    /** Private key, a secret from `pulumi config set --secret hostSshPrivateKey`. */
    sshPrivateKey: pulumi.Input<string>;
    /** The host's public key line, pinned: connections to any other key fail. */
    sshHostKey: string;
    /** Swap file in MiB made by the bootstrap; 0 for none. */
    swapMb: number;
    /** Docker log rotation written to /etc/docker/daemon.json: size of one file, files kept. */
    logMaxSizeMb: number;
    logMaxFiles: number;
    /**
     * Directory where the private key (0600) and the pinned known_hosts for Docker's ssh://
     * transport are written on the machine running Pulumi. Relative paths are relative to
     * the project (the providers run there), so the Docker provider's settings stay the
     * same for every operator and CI; the directory is gitignored (.state/).
     */
    sshDir: string;
}

/** The bootstrap script, under components/. */
export const BOOTSTRAP_SCRIPT = "host/bootstrap-host.sh";

/** The settings bootstrap-host.sh reads on stdin. */
export function bootstrapSettings(a: Pick<HostArgs, "swapMb" | "logMaxSizeMb" | "logMaxFiles">): string {
    return settingsText({ SWAP_MB: a.swapMb, LOG_MAX_SIZE_MB: a.logMaxSizeMb, LOG_MAX_FILES: a.logMaxFiles });
}

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
    /** bootstrap-host.sh as shipped to the host. */
    public readonly bootstrapScript: ShippedScript;
    public readonly docker: docker.Provider;
    /** True when commands need `sudo -n` (non-root SSH user). */
    public readonly sudo: boolean;
    public readonly sshTarget: string;
    /**
     * `ssh` with the stack's key and pinned host key, up to the target (a remote command line
     * follows): for what is run from the operator's machine, such as builds fed a context on stdin.
     */
    public readonly sshCommand: pulumi.Output<string>;

    constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:host:Host", name, {}, opts);
        this.sudo = args.sshUser !== "root";
        this.sshTarget = `${args.sshUser}@${args.address}`;
        this.connection = {
            host: args.address,
            port: args.sshPort,
            user: args.sshUser,
            privateKey: args.sshPrivateKey,
            hostKey: args.sshHostKey,
            dialErrorLimit: 20,
            perDialTimeout: 15,
        };

        this.bootstrapScript = new ShippedScript(`${name}-upload-bootstrap-host.sh`, BOOTSTRAP_SCRIPT, { connection: this.connection, sudo: this.sudo }, childOf(this, opts));
        this.bootstrap = new command.remote.Command(
            `${name}-bootstrap`,
            {
                connection: this.connection,
                // A new script (its path) or new settings are an update, which runs it again (it is idempotent).
                create: this.bootstrapScript.command(),
                stdin: bootstrapSettings(args),
            },
            childOf(this, opts, [this.bootstrapScript.upload]),
        );

        // Docker's ssh:// transport runs the system ssh: give it the key and the pinned host key.
        const sshDir = path.resolve(REPO_ROOT, args.sshDir);
        const keyFile = path.join(args.sshDir, "id");
        const knownHostsFile = path.join(args.sshDir, "known_hosts");
        const sshOpts = pulumi.unsecret(
            pulumi.output(args.sshPrivateKey).apply((key) => {
                writePrivateFiles(sshDir, { id: key.endsWith("\n") ? key : `${key}\n`, known_hosts: `${knownHostsLine(args.address, args.sshPort, args.sshHostKey)}\n` });
                return [
                    "-o", "StrictHostKeyChecking=yes",
                    "-o", `UserKnownHostsFile=${knownHostsFile}`,
                    "-o", "IdentitiesOnly=yes",
                    "-o", "BatchMode=yes",
                    "-i", keyFile,
                ];
            }),
        );
        this.sshCommand = sshOpts.apply((opts) => ["ssh", ...opts, "-p", String(args.sshPort), this.sshTarget].map(shellQuote).join(" "));
        this.docker = new docker.Provider(
            `${name}-docker`,
            // An IPv6 address goes in brackets in a URL.
            { host: `ssh://${args.sshUser}@${args.address.includes(":") ? `[${args.address}]` : args.address}:${args.sshPort}`, sshOpts },
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
