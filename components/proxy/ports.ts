// Pure (no Pulumi import): config.ts checks the SSH port against it.

/** The ports Caddy publishes, the only published ports on the VPS. */
export const PROXY_PORTS = [80, 443] as const;

/**
 * Caddy's metrics site (plain HTTP, /metrics only): not published, Prometheus reaches it
 * as caddy:2020 on the monitoring network.
 */
export const CADDY_METRICS_PORT = 2020;

/** Caddy's admin API, on the container's loopback only (healthcheck, reloads). */
export const CADDY_ADMIN_PORT = 2019;
