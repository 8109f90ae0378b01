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
    /** ACME account e-mail (acme mode); empty for none. */
    acmeEmail?: string;
    /** Hostnames that only redirect to another (www -> apex). */
    redirects?: { from: string; to: string }[];
}

/** Where the Origin CA certificate and its key are placed in the Caddy container. */
export const ORIGIN_CERT_FILE = "/etc/caddy/tls/origin.pem";
export const ORIGIN_KEY_FILE = "/etc/caddy/tls/origin.key";

/**
 * The `tls` line of each site, the one place where certificate modes differ:
 * `origin-ca` serves the Cloudflare Origin CA certificate made by the stack,
 * `acme` lets Caddy's automatic HTTPS get one (no line needed), `internal` uses
 * Caddy's own CA (local and test stacks).
 */
export function tlsDirective(mode: TlsMode): string | null {
    switch (mode) {
        case "origin-ca":
            return `tls ${ORIGIN_CERT_FILE} ${ORIGIN_KEY_FILE}`;
        case "acme":
            return null;
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
    const tls = tlsDirective(a.tlsMode);
    const tlsLines = tls ? [`\t${tls}`] : [];
    const redirects = (a.redirects ?? []).map((r) =>
        [`${r.from} {`, ...tlsLines, "\timport security_headers", `\tredir https://${r.to}{uri} permanent`, "}"].join("\n"),
    );
    const sites = a.routes.map((r) =>
        [
            `${r.host} {`,
            ...tlsLines,
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
        ...(a.tlsMode === "acme" && a.acmeEmail ? [`\temail ${a.acmeEmail}`] : []),
        "}",
        "",
        "(security_headers) {",
        "\theader {",
        ...headers.map((h) => `\t\t${h}`),
        "\t}",
        "}",
        "",
        [...sites, ...redirects].join("\n\n"),
        "",
    ].join("\n");
}
