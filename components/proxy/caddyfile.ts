import { TlsMode } from "../../config";
import { CADDY_ADMIN_PORT, CADDY_METRICS_PORT, PROXY_PORTS } from "./ports";

export { CADDY_METRICS_PORT } from "./ports";

export interface Route {
    /** Public hostname. */
    host: string;
    /**
     * Path, inside Caddy, of the file with the site's `reverse_proxy` line (upstreams.ts): a
     * release rewrites it and reloads Caddy.
     */
    upstreamFile: string;
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
    /**
     * Where Caddy listens. Default: HTTP 80, HTTPS 443 (PROXY_PORTS), metrics
     * CADDY_METRICS_PORT and the admin API CADDY_ADMIN_PORT, inside the container. Tests
     * that run a real Caddy on this machine move them to free ports.
     */
    ports?: Partial<CaddyPorts>;
}

export interface CaddyPorts {
    http: number;
    https: number;
    metrics: number;
    admin: number;
}

const DEFAULT_PORTS: CaddyPorts = { http: PROXY_PORTS[0], https: PROXY_PORTS[1], metrics: CADDY_METRICS_PORT, admin: CADDY_ADMIN_PORT };

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

/**
 * The access log of every site: one JSON object per request on stdout, which Docker keeps
 * and rotates (hostLogMaxSizeMb x hostLogMaxFiles per container); Caddy's own messages go
 * to stderr. Caddy already redacts the Cookie, Set-Cookie and Authorization headers; this
 * also removes the session tokens SuperTokens sends in headers, and the one-time `token`
 * of password-reset and e-mail links (in the URI, and in the Referer of the page's requests).
 */
const ACCESS_LOG = [
    "log {",
    "\toutput stdout",
    "\tformat filter {",
    "\t\twrap json",
    "\t\tfields {",
    "\t\t\trequest>uri query {",
    "\t\t\t\treplace token REDACTED",
    "\t\t\t}",
    "\t\t\trequest>headers>Referer query {",
    "\t\t\t\treplace token REDACTED",
    "\t\t\t}",
    "\t\t\tresp_headers>St-Access-Token delete",
    "\t\t\tresp_headers>St-Refresh-Token delete",
    "\t\t}",
    "\t}",
    "}",
];

/**
 * The whole Caddyfile: one site per hostname with security headers and an access log, and
 * the metrics site (plain HTTP on CADDY_METRICS_PORT, for Prometheus on the monitoring
 * network: no certificate, not published).
 */
export function caddyfile(a: CaddyfileArgs): string {
    const ports = { ...DEFAULT_PORTS, ...a.ports };
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
        [`${r.from} {`, ...tlsLines, "\timport security_headers", "\timport access_log", `\tredir https://${r.to}{uri} permanent`, "}"].join("\n"),
    );
    const sites = a.routes.map((r) =>
        [
            `${r.host} {`,
            ...tlsLines,
            "\timport security_headers",
            "\timport access_log",
            "\tencode zstd gzip",
            `\timport ${r.upstreamFile}`,
            "}",
        ].join("\n"),
    );
    return [
        "{",
        "\t# Admin API only inside the container (healthcheck, reloads).",
        `\tadmin 127.0.0.1:${ports.admin}`,
        ...(ports.http !== DEFAULT_PORTS.http ? [`\thttp_port ${ports.http}`] : []),
        ...(ports.https !== DEFAULT_PORTS.https ? [`\thttps_port ${ports.https}`] : []),
        ...(a.tlsMode === "acme" && a.acmeEmail ? [`\temail ${a.acmeEmail}`] : []),
        // Clients are given the internal CA's root explicitly; no trust store to change.
        ...(a.tlsMode === "internal" ? ["\tskip_install_trust"] : []),
        "\t# Request metrics with a host label (Prometheus turns it into site).",
        "\tmetrics {",
        "\t\tper_host",
        "\t}",
        "}",
        "",
        "(security_headers) {",
        "\theader {",
        ...headers.map((h) => `\t\t${h}`),
        "\t}",
        "}",
        "",
        "(access_log) {",
        ...ACCESS_LOG.map((line) => `\t${line}`),
        "}",
        "",
        "# Prometheus scrapes this on the monitoring network: plain HTTP, no certificate, no access log.",
        `http://:${ports.metrics} {`,
        "\thandle /metrics {",
        "\t\tmetrics",
        "\t}",
        "\trespond 404",
        "}",
        "",
        [...sites, ...redirects].join("\n\n"),
        "",
    ].join("\n");
}
