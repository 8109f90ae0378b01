import { TlsMode } from "../../config";

export interface Route {
    /** Public hostname. */
    host: string;
    /** `service:port` on the edge network. */
    upstream: string;
}

export interface CaddyfileArgs {
    routes: Route[];
    tlsMode: TlsMode;
    /** Strict-Transport-Security max-age; 0 sends no HSTS header. */
    hstsMaxAgeSeconds: number;
}

/**
 * The `tls` directive for a TLS mode. The one seam where certificate modes differ:
 * `internal` uses Caddy's own CA (local and test stacks).
 */
export function tlsDirective(mode: TlsMode): string {
    switch (mode) {
        case "internal":
            return "tls internal";
    }
}

/** The whole Caddyfile: one site per hostname, security headers on every response. */
export function caddyfile(a: CaddyfileArgs): string {
    const headers = [
        ...(a.hstsMaxAgeSeconds > 0 ? [`Strict-Transport-Security "max-age=${a.hstsMaxAgeSeconds}; includeSubDomains"`] : []),
        'X-Content-Type-Options "nosniff"',
        'X-Frame-Options "DENY"',
        'Referrer-Policy "strict-origin-when-cross-origin"',
        'Permissions-Policy "camera=(), microphone=(), geolocation=()"',
        "-Server",
    ];
    const sites = a.routes.map((r) =>
        [
            `${r.host} {`,
            `\t${tlsDirective(a.tlsMode)}`,
            "\timport security_headers",
            "\tencode zstd gzip",
            `\treverse_proxy ${r.upstream}`,
            "}",
        ].join("\n"),
    );
    return [
        "{",
        "\t# Admin API only inside the container (healthcheck, reloads).",
        "\tadmin 127.0.0.1:2019",
        "}",
        "",
        "(security_headers) {",
        "\theader {",
        ...headers.map((h) => `\t\t${h}`),
        "\t}",
        "}",
        "",
        sites.join("\n\n"),
        "",
    ].join("\n");
}
