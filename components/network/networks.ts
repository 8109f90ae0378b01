import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { childOf } from "../shared/options";

export interface NetworksArgs {
    /** Prefix of the Docker network names, e.g. byte-runner-prod. */
    namePrefix: string;
}

/**
 * The two Docker networks: `edge` joins the proxy to the apps; `internal` joins the
 * apps to the pooler, the database and the auth core, and has no route out
 * (`internal: true`), so nothing on it can be published or reach the internet; `egress`
 * is the database's and the backup scheduler's way out to the offsite backup store.
 */
export class Networks extends pulumi.ComponentResource {
    public readonly edge: docker.Network;
    public readonly internal: docker.Network;
    public readonly egress: docker.Network;

    constructor(name: string, args: NetworksArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:network:Networks", name, {}, opts);
        this.edge = new docker.Network(`${name}-edge`, { name: `${args.namePrefix}-edge`, driver: "bridge" }, childOf(this, opts));
        this.internal = new docker.Network(
            `${name}-internal`,
            { name: `${args.namePrefix}-internal`, driver: "bridge", internal: true },
            childOf(this, opts),
        );
        // The way out for the database's backups to the offsite store; nothing is published on it.
        this.egress = new docker.Network(`${name}-egress`, { name: `${args.namePrefix}-egress`, driver: "bridge" }, childOf(this, opts));
        this.registerOutputs({ edge: this.edge.name, internal: this.internal.name, egress: this.egress.name });
    }
}
