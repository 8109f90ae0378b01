import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { childOf } from "../shared/options";

export interface NetworksArgs {
    /** Prefix of the Docker network names, e.g. byte-runner-prod. */
    namePrefix: string;
    /** Also the monitoring networks (monitoringEnabled). */
    monitoring: boolean;
}

/**
 * The two Docker networks: `edge` joins the proxy to the apps; `internal` joins the
 * apps to the pooler, the database and the auth core, and has no route out
 * (`internal: true`), so nothing on it can be published or reach the internet; `egress`
 * is the database's and the backup scheduler's way out to the offsite backup store.
 * With monitoring, `monitoring` joins Prometheus to what it scrapes (no route out either)
 * and `notify` is Alertmanager's way out to the receivers and the dead-man service.
 */
export class Networks extends pulumi.ComponentResource {
    public readonly edge: docker.Network;
    public readonly internal: docker.Network;
    public readonly egress: docker.Network;
    public readonly monitoring?: docker.Network;
    public readonly notify?: docker.Network;

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
        if (args.monitoring) {
            this.monitoring = new docker.Network(
                `${name}-monitoring`,
                { name: `${args.namePrefix}-monitoring`, driver: "bridge", internal: true },
                childOf(this, opts),
            );
            this.notify = new docker.Network(`${name}-notify`, { name: `${args.namePrefix}-notify`, driver: "bridge" }, childOf(this, opts));
        }
        this.registerOutputs({ edge: this.edge.name, internal: this.internal.name, egress: this.egress.name });
    }
}
