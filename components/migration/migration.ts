import * as command from "@pulumi/command";
import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { childOf } from "../shared/options";
import { settingsText, ShippedScript } from "../shared/vps-script";
import type { MIGRATION_MODES, MIGRATION_PHASES } from "../../config";

/** The SuperTokens core's data: its own source, its database and the core that uses it. */
export interface AuthMigrationArgs {
    /** URL of a database holding the managed core's tables (secret). */
    sourceDatabaseUrl: pulumi.Input<string>;
    /** Superuser URL of the core's database on the new Postgres (secret). */
    targetDatabaseUrl: pulumi.Input<string>;
    /** The core's role: owns its database, and so the restored tables. */
    role: string;
    /** The core: stopped from restore until verify has run. */
    service: ServiceRef;
}

/**
 * A service the migration stops and starts: its name, which the step resolves to its running
 * container on the host (components/shared/service-containers.sh: an app has one per release),
 * and its current container, which the steps wait for.
 */
export interface ServiceRef {
    name: string;
    container: docker.Container;
    /**
     * What else the steps wait for: an app's release (gate, switch, retire), so that a step
     * never runs while a deploy of the same `pulumi up` has two containers of the service.
     */
    ready?: pulumi.Resource;
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
    /** The backend: stopped from restore until verify has run. */
    appService: ServiceRef;
    schemas: string;
    jobs: number;
    rls: "disable" | "keep-rewritten";
    force: boolean;
    /** dump: dump -> restore -> verify. replicate: logical replication, run in phases. */
    mode: MigrationMode;
    /** replicate's phase: which steps exist (replicateSteps). */
    phase: MigrationPhase;
    /** replicate's cutover: the roles the app writes to the source as, frozen read-only. */
    freezeRoles: string;
    /** replicate's cutover is refused above this lag. */
    cutoverMaxLagBytes: number;
    /** The Postgres image: its client tools match the server's major version. */
    image: string;
    edgeNetwork: pulumi.Input<string>;
    internalNetwork: pulumi.Input<string>;
    /** Also move the SuperTokens core's data (users with their password hashes, signing keys). */
    auth?: AuthMigrationArgs;
}

export const STEP_SCRIPT = "migration/migration-step.sh";
/** The tool the steps run in a container of the Postgres image; shipped as a file too. */
export const PG_MIGRATE = "migration/pg-migrate";
export const MIGRATION_STEPS = ["dump", "restore", "verify"] as const;
type MigrationMode = (typeof MIGRATION_MODES)[number];
type MigrationPhase = (typeof MIGRATION_PHASES)[number];
export type MigrationStep = (typeof MIGRATION_STEPS)[number] | "sync" | "cutover" | "abort";
type Steps = Partial<Record<MigrationStep, command.remote.Command>>;

/**
 * The steps of a chain, in order. replicate's phases add steps under one run id: sync has
 * run (and is kept, not run again) when cutover is added; abort replaces both. Only a
 * verified step (dump's verify, replicate's cutover, which verifies) opens the DNS gate.
 */
export function migrationSteps(mode: MigrationMode, phase: MigrationPhase): MigrationStep[] {
    if (mode === "dump") return [...MIGRATION_STEPS];
    return phase === "sync" ? ["sync"] : phase === "cutover" ? ["sync", "cutover"] : ["abort"];
}
/** A core that set up its own database holds no user yet: that database may be replaced. */
export const FRESH_CORE_TABLE = "public.all_auth_recipe_users";

/** What one chain's steps read on stdin (migration-step.sh's settings; the URLs are secrets). */
export interface StepSettings {
    chain: "app" | "auth";
    runId: string;
    pgMigrate: { path: string; sha256: string };
    image: string;
    edgeNetwork: string;
    internalNetwork: string;
    /** The container stopped from restore to verify. */
    service: string;
    sourceDatabaseUrl: string;
    targetDatabaseUrl: string;
    /** Reads every table in verify, and owns the restored objects (it owns its database). */
    role: string;
    schemas: string;
    jobs: number;
    rls: "disable" | "keep-rewritten";
    force: boolean;
    /** Tables that, all empty, let restore replace a database that has tables; "" for none. */
    replaceIfEmpty: string;
    mode: MigrationMode;
    freezeRoles: string;
    cutoverMaxLagBytes: number;
}

/** The KEY=VALUE settings migration-step.sh reads on stdin. */
export function stepSettings(s: StepSettings): string {
    return settingsText({
        CHAIN: s.chain,
        RUN_ID: s.runId,
        PG_MIGRATE: s.pgMigrate.path,
        PG_MIGRATE_SHA256: s.pgMigrate.sha256,
        IMAGE: s.image,
        EDGE_NETWORK: s.edgeNetwork,
        INTERNAL_NETWORK: s.internalNetwork,
        SERVICE: s.service,
        SOURCE_DATABASE_URL: s.sourceDatabaseUrl,
        TARGET_DATABASE_URL: s.targetDatabaseUrl,
        APP_ROLE: s.role,
        OWNER: s.role,
        SCHEMAS: s.schemas,
        JOBS: s.jobs,
        RLS: s.rls,
        FORCE: s.force ? 1 : 0,
        REPLACE_IF_EMPTY: s.replaceIfEmpty,
        MODE: s.mode,
        FREEZE_ROLES: s.freezeRoles,
        CUTOVER_MAX_LAG_BYTES: s.cutoverMaxLagBytes,
    });
}

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
        const script = new ShippedScript(`${name}-upload-migration-step.sh`, STEP_SCRIPT, args, childOf(this, opts));
        const tool = new ShippedScript(`${name}-upload-pg-migrate`, PG_MIGRATE, args, childOf(this, opts));
        const shipped = { script, tool };
        const app = {
            chain: "app",
            role: args.appRole,
            schemas: args.schemas,
            rls: args.rls,
            force: args.force,
            replaceIfEmpty: "",
            mode: args.mode,
            freezeRoles: args.freezeRoles,
            cutoverMaxLagBytes: args.cutoverMaxLagBytes,
        } as const;
        const appSteps = migrationSteps(args.mode, args.phase);
        this.steps = this.chain(name, args, shipped, args.runId, app, appSteps, args.sourceDatabaseUrl, args.targetDatabaseUrl, args.appService, opts);
        if (args.auth) {
            const auth = args.auth;
            this.authSteps = this.chain(
                `${name}-auth`,
                args,
                shipped,
                `${args.runId}-auth`,
                // The core's tables live in public; it has no RLS. A database the core created for
                // itself (tables, no user) may be replaced; one with users never is (migrationForce is
                // the app database's: a rollback to legacy re-allows it, and users made on the VPS
                // would be lost).
                // An export is no live database: it always moves by dump, in the first phase.
                {
                    chain: "auth",
                    role: auth.role,
                    schemas: "public",
                    rls: "disable",
                    force: false,
                    replaceIfEmpty: FRESH_CORE_TABLE,
                    mode: "dump",
                    freezeRoles: "",
                    cutoverMaxLagBytes: args.cutoverMaxLagBytes,
                },
                args.phase === "abort" ? [] : [...MIGRATION_STEPS],
                auth.sourceDatabaseUrl,
                auth.targetDatabaseUrl,
                auth.service,
                opts,
            );
        }
        const appVerified = args.mode === "dump" ? this.steps.verify : this.steps.cutover;
        this.verified = [appVerified, this.authSteps?.verify].filter((step): step is command.remote.Command => step !== undefined);
        this.registerOutputs({});
    }

    private chain(
        name: string,
        args: MigrationArgs,
        shipped: { script: ShippedScript; tool: ShippedScript },
        trigger: string,
        chain: Pick<StepSettings, "chain" | "role" | "schemas" | "rls" | "force" | "replaceIfEmpty" | "mode" | "freezeRoles" | "cutoverMaxLagBytes">,
        stepNames: MigrationStep[],
        source: pulumi.Input<string>,
        target: pulumi.Input<string>,
        service: ServiceRef,
        opts: pulumi.ComponentResourceOptions | undefined,
    ): Steps {
        const settings = pulumi.secret(
            pulumi.all([source, target, args.edgeNetwork, args.internalNetwork]).apply(([sourceDatabaseUrl, targetDatabaseUrl, edgeNetwork, internalNetwork]) =>
                stepSettings({
                    ...chain,
                    runId: args.runId,
                    pgMigrate: { path: shipped.tool.path, sha256: shipped.tool.sha256 },
                    image: args.image,
                    edgeNetwork,
                    internalNetwork,
                    service: service.name,
                    sourceDatabaseUrl,
                    targetDatabaseUrl,
                    jobs: args.jobs,
                }),
            ),
        );
        let previous: command.remote.Command | undefined;
        const steps: Steps = {};
        for (const step of stepNames) {
            const dependsOn = [...(previous ? [previous] : []), service.container, ...(service.ready ? [service.ready] : []), shipped.script.upload, shipped.tool.upload];
            previous = new command.remote.Command(
                `${name}-${step}`,
                {
                    connection: args.connection,
                    create: shipped.script.command([step]),
                    // Edits to the scripts, the settings or a rotated password alone never re-run a
                    // step: the update only says so. Only a new run id (a replacement) runs it.
                    update: `echo "migration ${step}: inputs changed; set a new migrationRunId to run the migration again"`,
                    stdin: settings,
                    triggers: [trigger],
                    // The output is pg-migrate's report (never a URL); keep it in the log and state.
                    logging: "stdoutAndStderr",
                },
                childOf(this, opts, dependsOn),
            );
            steps[step] = previous;
        }
        return steps;
    }
}
