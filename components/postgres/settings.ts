/**
 * Server settings derived from the memory the Postgres container may use, after the
 * usual rules of thumb: shared_buffers a quarter of it, effective_cache_size three
 * quarters, work_mem what is left shared by every connection running a few sorts.
 */
export function postgresSettings(memoryMb: number, maxConnections: number, logMinDurationMs: number): Record<string, string> {
    const sharedBuffersMb = Math.max(32, Math.floor(memoryMb / 4));
    const workMemMb = Math.max(1, Math.floor((memoryMb - sharedBuffersMb) / (maxConnections * 3)));
    return {
        max_connections: String(maxConnections),
        shared_buffers: `${sharedBuffersMb}MB`,
        effective_cache_size: `${Math.floor((memoryMb * 3) / 4)}MB`,
        work_mem: `${workMemMb}MB`,
        maintenance_work_mem: `${Math.min(1024, Math.max(16, Math.floor(memoryMb / 16)))}MB`,
        wal_buffers: "16MB",
        random_page_cost: "1.1",
        password_encryption: "scram-sha-256",
        ...loggingSettings(logMinDurationMs),
        ...statementStatsSettings(),
    };
}

/**
 * What the server writes to its log (stderr, which Docker keeps and rotates): slow
 * statements, lock waits, temporary files, checkpoints and long autovacuum runs. Failed
 * logins and refused connections (too many clients, no pg_hba entry) are logged as FATAL
 * in any case; the line prefix makes them useful by naming the user, the database and the
 * client. Connections and disconnections are not logged: behind PgBouncer they are the
 * pool's churn from one address, not who came and went (PgBouncer logs its own clients).
 */
export function loggingSettings(logMinDurationMs: number): Record<string, string> {
    return {
        // time, [pid], then for sessions only (%q): user@database client(port) app=<application_name>
        log_line_prefix: "%m [%p] %q%u@%d %r app=%a ",
        log_min_duration_statement: String(logMinDurationMs),
        // A wait longer than deadlock_timeout (1 s) is logged with who holds the lock.
        log_lock_waits: "on",
        log_temp_files: "0",
        // PostgreSQL 15's default, stated: one line per checkpoint, how long it took and why.
        log_checkpoints: "on",
        // An autovacuum or autoanalyze run longer than a minute is unusual for a database
        // of this size and points at bloat or a held lock (15's default logs only past 10 min).
        log_autovacuum_min_duration: "1min",
    };
}

/**
 * pg_stat_statements, which the monitoring reads for the top statements: it must be loaded
 * at server start (the extension itself is made by db-roles.sh). Only top-level statements,
 * no utility commands: behind transaction pooling BEGIN, COMMIT and SET would crowd out
 * the queries worth seeing. Timing of block reads and writes, for the same view.
 */
export function statementStatsSettings(): Record<string, string> {
    return {
        shared_preload_libraries: "pg_stat_statements",
        "pg_stat_statements.max": "5000",
        "pg_stat_statements.track": "top",
        "pg_stat_statements.track_utility": "off",
        track_io_timing: "on",
    };
}

/** The container command: `postgres -c key=value ...`, as the official image takes it. */
export function postgresCommand(settings: Record<string, string>): string[] {
    return ["postgres", ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
}
