import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Limits } from "../../config";
import { LogRotation, serviceContainer } from "../shared/container";
import { serviceImage } from "../shared/image";
import { childOf } from "../shared/options";

export interface SuperTokensArgs {
    /** Pinned supertokens-postgresql image (never latest). */
    image: string;
    namePrefix: string;
    internalNetwork: pulumi.Input<string>;
    /** postgresql:// URL of its own database and role (secret). */
    databaseUrl: pulumi.Input<string>;
    /** Its connection pool to Postgres (supertokensPoolSize). */
    poolSize: number;
    limits: Limits;
    logRotation: LogRotation;
}

export const SUPERTOKENS_HOST = "supertokens";
export const SUPERTOKENS_PORT = 3567;

/**
 * A self-hosted SuperTokens Core on the internal network only, with a generated API
 * key (hex, which the core accepts) and a /hello healthcheck that fails unless its
 * database answers.
 */
export class SuperTokens extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    /** The container's name on the host, known before it exists. */
    public readonly containerName: string;
    /** The core's API key (secret): 64 hex characters. */
    public readonly apiKey: pulumi.Output<string>;
    /** URL the backend uses to reach the core. */
    public readonly connectionUri: string;

    constructor(name: string, args: SuperTokensArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:supertokens:SuperTokens", name, {}, opts);
        this.containerName = `${args.namePrefix}-supertokens`;
        this.apiKey = pulumi.secret(new random.RandomBytes(`${name}-api-key`, { length: 32 }, childOf(this, opts)).hex);
        const databaseUrl = pulumi.output(args.databaseUrl).apply((url) => {
            // The core refuses postgres:// at start-up; catch it here, before anything runs.
            if (!url.startsWith("postgresql://")) throw new Error("SuperTokens' POSTGRESQL_CONNECTION_URI must start with postgresql://");
            return url;
        });
        this.connectionUri = `http://${SUPERTOKENS_HOST}:${SUPERTOKENS_PORT}`;
        this.container = serviceContainer(
            name,
            {
                containerName: this.containerName,
                image: serviceImage(`${name}-image`, args.image, "", childOf(this, opts)),
                networks: [{ name: args.internalNetwork, aliases: [SUPERTOKENS_HOST] }],
                clearEnv: {
                    POSTGRESQL_CONNECTION_POOL_SIZE: String(args.poolSize),
                    DISABLE_TELEMETRY: "true",
                },
                secretEnv: { POSTGRESQL_CONNECTION_URI: databaseUrl, API_KEYS: this.apiKey },
                // The core's image has bash but no curl or wget: ask /hello over /dev/tcp.
                healthcheck: [
                    "CMD",
                    "bash",
                    "-c",
                    `exec 3<>/dev/tcp/127.0.0.1/${SUPERTOKENS_PORT} && printf 'GET /hello HTTP/1.0\r\n\r\n' >&3 && grep -q Hello <&3`,
                ],
                limits: args.limits,
                logRotation: args.logRotation,
            },
            childOf(this, opts),
        );
        this.registerOutputs({ connectionUri: this.connectionUri });
    }
}
