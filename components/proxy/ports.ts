// Pure (no Pulumi import): config.ts checks the SSH port against it.

/** The ports Caddy publishes, the only published ports on the VPS. */
export const PROXY_PORTS = [80, 443] as const;
