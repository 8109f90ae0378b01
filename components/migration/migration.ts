import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { readScript, scriptCommand } from "../shared/naming";
import { childOf } from "../shared/options";

export interface MigrationArgs {
    connection: command.types.input.remote.ConnectionArgs;
    sudo: boolean;
    /** Changing it runs dump -> restore -> verify once more; unchanged, nothing runs. */
    runId: string;
    /** Supabase URL (secret). */
    sourceDatabaseUrl: pulumi.Input<string>;
    /** Superuser URL of the new database the app uses (secret); restore replaces that database. */
    targetDatabaseUrl: pulumi.Input<string>;
    /** Role the app connects as: restore grants it, verify reads every table as it. */
    appRole: string;
    schemas: string;
    jobs: number;
    rls: "disable" | "keep-rewritten";
    force: boolean;
    /** The Postgres image: its client tools match the server's major version. */
    image: string;
    edgeNetwork: pulumi.Input<string>;
    internalNetwork: pulumi.Input<string>;
}

const STEP_SCRIPT = "migration-step.sh";
export const MIGRATION_STEPS = ["dump", "restore", "verify"] as const;

/**
 * The data migration as three command resources on the VPS: dump (Supabase -> files),
 * restore (files -> the new Postgres, refusing to overwrite data), verify (source vs
 * target, table by table). Each runs once per migrationRunId; there is no delete step,
 * so removing the resources never touches data. `verified` is what the DNS cutover
 * waits for.
 */
export class Migration extends pulumi.ComponentResource {
    public readonly steps: Record<(typeof MIGRATION_STEPS)[number], command.remote.Command>;
    /** The verify step: succeeded means the copy is identical. */
    public readonly verified: command.remote.Command;

    constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:migration:Migration", name, {}, opts);
        const tool = readScript("pg-migrate");
        const env = pulumi.secret(
            pulumi.all([args.sourceDatabaseUrl, args.targetDatabaseUrl]).apply(([source, target]) =>
                [
                    `SOURCE_DATABASE_URL=${source}`,
                    `TARGET_DATABASE_URL=${target}`,
                    `APP_ROLE=${args.appRole}`,
                    `SCHEMAS=${args.schemas}`,
                    `JOBS=${args.jobs}`,
                    `RLS=${args.rls}`,
                    `FORCE=${args.force ? 1 : 0}`,
                    "",
                ].join("\n"),
            ),
        );
        let previous: command.remote.Command | undefined;
        const steps: Partial<Record<(typeof MIGRATION_STEPS)[number], command.remote.Command>> = {};
        for (const step of MIGRATION_STEPS) {
            const create = pulumi
                .all([args.edgeNetwork, args.internalNetwork])
                .apply(([edge, internal]) => scriptCommand(STEP_SCRIPT, [step, args.runId, tool, args.image, edge, internal], { sudo: args.sudo }));
            previous = new command.remote.Command(
                `${name}-${step}`,
                {
                    connection: args.connection,
                    create,
                    // Edits to the tool, the settings or a rotated password alone never re-run a
                    // step: the update only says so. Only a new run id (a replacement) runs it.
                    update: `echo "migration ${step}: inputs changed; set a new migrationRunId to run the migration again"`,
                    stdin: env,
                    triggers: [args.runId],
                    // The output is pg-migrate's report (never a URL); keep it in the log and state.
                    logging: "stdoutAndStderr",
                },
                childOf(this, opts, previous ? [previous] : []),
            );
            steps[step] = previous;
        }
        this.steps = steps as Record<(typeof MIGRATION_STEPS)[number], command.remote.Command>;
        this.verified = this.steps.verify;
        this.registerOutputs({});
    }
}
