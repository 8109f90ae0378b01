import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { readScript, scriptCommand } from "../shared/naming";
import { childOf } from "../shared/options";

/** The SuperTokens core's data: its own source, its database and the core that uses it. */
export interface AuthMigrationArgs {
    /** URL of a database holding the managed core's tables (secret). */
    sourceDatabaseUrl: pulumi.Input<string>;
    /** Superuser URL of the core's database on the new Postgres (secret). */
    targetDatabaseUrl: pulumi.Input<string>;
    /** The core's role: owns its database, and so the restored tables. */
    role: string;
    /** The core's container: stopped from restore until verify has run. */
    service: docker.Container;
}

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
    /** The backend's container: stopped from restore until verify has run. */
    appService: docker.Container;
    schemas: string;
    jobs: number;
    rls: "disable" | "keep-rewritten";
    force: boolean;
    /** The Postgres image: its client tools match the server's major version. */
    image: string;
    edgeNetwork: pulumi.Input<string>;
    internalNetwork: pulumi.Input<string>;
    /** Also move the SuperTokens core's data (users with their password hashes, signing keys). */
    auth?: AuthMigrationArgs;
}

const STEP_SCRIPT = "migration-step.sh";
export const MIGRATION_STEPS = ["dump", "restore", "verify"] as const;
type Steps = Record<(typeof MIGRATION_STEPS)[number], command.remote.Command>;
/** A core that set up its own database holds no user yet: that database may be replaced. */
export const FRESH_CORE_TABLE = "public.all_auth_recipe_users";

/**
 * The data migration as command resources on the VPS, three per database: dump (source
 * -> files), restore (files -> the new Postgres, refusing to overwrite data), verify
 * (source vs target, table by table). The app's data comes from Supabase; with `auth`,
 * the SuperTokens core's data follows in its own chain. The service using each database
 * (backend, core) is stopped from restore to verify, so verify compares data nobody
 * wrote to since. Each runs once per migrationRunId; there is no delete step, so removing the
 * resources never touches data. `verified` is what the DNS cutover waits for.
 */
export class Migration extends pulumi.ComponentResource {
    public readonly steps: Steps;
    /** The auth data's steps, when it is migrated too. */
    public readonly authSteps?: Steps;
    /** Every verify step: all succeeded means every copy is identical. */
    public readonly verified: command.remote.Command[];

    constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:migration:Migration", name, {}, opts);
        const common = { APP_ROLE: args.appRole, SCHEMAS: args.schemas, JOBS: String(args.jobs), RLS: args.rls, FORCE: args.force ? "1" : "0" };
        this.steps = this.chain(name, args, args.runId, args.sourceDatabaseUrl, args.targetDatabaseUrl, common, args.appService, opts);
        if (args.auth) {
            const auth = args.auth;
            this.authSteps = this.chain(
                `${name}-auth`,
                args,
                `${args.runId}-auth`,
                auth.sourceDatabaseUrl,
                auth.targetDatabaseUrl,
                // The core's tables live in public; it has no RLS. A database the core created for
                // itself (tables, no user) may be replaced; one with users never is (migrationForce is
                // the app database's: a rollback to legacy re-allows it, and users made on the VPS
                // would be lost).
                { ...common, APP_ROLE: auth.role, SCHEMAS: "public", RLS: "disable", FORCE: "0", REPLACE_IF_EMPTY: FRESH_CORE_TABLE },
                auth.service,
                opts,
            );
        }
        this.verified = [this.steps.verify, ...(this.authSteps ? [this.authSteps.verify] : [])];
        this.registerOutputs({});
    }

    private chain(
        name: string,
        args: MigrationArgs,
        runId: string,
        source: pulumi.Input<string>,
        target: pulumi.Input<string>,
        settings: Record<string, string>,
        service: docker.Container,
        opts: pulumi.ComponentResourceOptions | undefined,
    ): Steps {
        const tool = readScript("pg-migrate");
        const env = pulumi.secret(
            pulumi.all([source, target]).apply(([sourceUrl, targetUrl]) =>
                [`SOURCE_DATABASE_URL=${sourceUrl}`, `TARGET_DATABASE_URL=${targetUrl}`, ...Object.entries(settings).map(([k, v]) => `${k}=${v}`), ""].join("\n"),
            ),
        );
        let previous: command.remote.Command | undefined;
        const steps: Partial<Steps> = {};
        for (const step of MIGRATION_STEPS) {
            const create = pulumi
                .all([args.edgeNetwork, args.internalNetwork, service.name])
                .apply(([edge, internal, serviceName]) => scriptCommand(STEP_SCRIPT, [step, runId, tool, args.image, edge, internal, serviceName], { sudo: args.sudo }));
            const dependsOn = [...(previous ? [previous] : []), service];
            previous = new command.remote.Command(
                `${name}-${step}`,
                {
                    connection: args.connection,
                    create,
                    // Edits to the tool, the settings or a rotated password alone never re-run a
                    // step: the update only says so. Only a new run id (a replacement) runs it.
                    update: `echo "migration ${step}: inputs changed; set a new migrationRunId to run the migration again"`,
                    stdin: env,
                    triggers: [runId],
                    // The output is pg-migrate's report (never a URL); keep it in the log and state.
                    logging: "stdoutAndStderr",
                },
                childOf(this, opts, dependsOn),
            );
            steps[step] = previous;
        }
        return steps as Steps;
    }
}
