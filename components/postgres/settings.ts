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
        log_min_duration_statement: String(logMinDurationMs),
        log_lock_waits: "on",
        log_temp_files: "0",
        password_encryption: "scram-sha-256",
    };
}

/** The container command: `postgres -c key=value ...`, as the official image takes it. */
export function postgresCommand(settings: Record<string, string>): string[] {
    return ["postgres", ...Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`])];
}
