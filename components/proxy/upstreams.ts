// Pure (no Pulumi import): where each app's upstream lives, for the proxy and the apps.
//
// The Caddyfile does not name the apps' containers: each site imports a one-line file,
// `reverse_proxy <container>:<port>`, from a host directory mounted read-only into Caddy. A
// release writes its service's file and runs `caddy reload` (components/app/release.sh), so a
// deploy changes neither the Caddyfile nor the Caddy container.

/** The Caddyfile inside the Caddy container (the proxy uploads it; a release reloads it). */
export const CADDY_CONFIG_FILE = "/etc/caddy/Caddyfile";

/** Where the upstream files are inside the Caddy container. */
export const CADDY_UPSTREAMS_DIR = "/etc/caddy/upstreams";

/** The Caddy container's name on the host (fixed: one proxy per stack). */
export function caddyContainerName(namePrefix: string): string {
    return `${namePrefix}-caddy`;
}

/** The host directory with the upstream files, mounted at CADDY_UPSTREAMS_DIR. */
export function upstreamsHostDir(namePrefix: string): string {
    return `/var/lib/byte-runner/${namePrefix}/upstreams`;
}

/** One service's upstream file: its path on the host and the path the Caddyfile imports. */
export function upstreamFile(namePrefix: string, service: string): { hostPath: string; caddyPath: string } {
    return { hostPath: `${upstreamsHostDir(namePrefix)}/${service}.caddy`, caddyPath: `${CADDY_UPSTREAMS_DIR}/${service}.caddy` };
}
