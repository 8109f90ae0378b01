import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { Limits, TlsMode } from "../../config";
import { LogRotation, NetworkAttachment, serviceContainer } from "../shared/container";
import { serviceImage } from "../shared/image";
import { ORIGIN_CERT_FILE, ORIGIN_KEY_FILE, Route, caddyfile } from "./caddyfile";
import { CADDY_CONFIG_FILE, CADDY_UPSTREAMS_DIR, caddyContainerName, upstreamsHostDir } from "./upstreams";
import { childOf } from "../shared/options";

/** The only ports published on the VPS (HTTP and HTTPS, TCP); the host firewall opens exactly these. */
export { PROXY_PORTS } from "./ports";
import { PROXY_PORTS } from "./ports";

/** Every value comes from config or index.ts; none has a default here. */
export interface ProxyArgs {
    /** Pinned Caddy image. */
    image: string;
    namePrefix: string;
    edgeNetwork: pulumi.Input<string>;
    routes: Route[];
    /** origin-ca, acme or internal. */
    tlsMode: TlsMode;
    /** ACME account e-mail; "" for none. */
    acmeEmail: string;
    /** The Origin CA certificate and key (origin-ca mode); the key is a secret. */
    originCertificate?: { certificatePem: pulumi.Input<string>; privateKeyPem: pulumi.Input<string> };
    /** Hostnames that only redirect (www -> apex). */
    redirects: { from: string; to: string }[];
    /** HSTS max-age in seconds; 0 sends no header. */
    hstsMaxAgeSeconds: number;
    limits: Limits;
    logRotation: LogRotation;
    /** More networks: the monitoring network, where Prometheus reads Caddy's metrics and the probes reach the sites by their public names. */
    extraNetworks: NetworkAttachment[];
}

/**
 * Caddy, the only container that publishes ports (80 and 443): TLS, a route per
 * hostname and security headers. Its certificates and CA live in a volume that
 * survives replacement and `pulumi destroy`.
 */
export class Proxy extends pulumi.ComponentResource {
    public readonly container: docker.Container;
    public readonly dataVolume: docker.Volume;
    public readonly caddyfile: string;

    constructor(name: string, args: ProxyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:proxy:Proxy", name, {}, opts);
        if ((args.tlsMode === "origin-ca") !== (args.originCertificate !== undefined)) {
            throw new Error("Proxy: an origin certificate is needed in origin-ca mode, and only there");
        }
        this.caddyfile = caddyfile({
            routes: args.routes,
            redirects: args.redirects,
            tlsMode: args.tlsMode,
            acmeEmail: args.acmeEmail,
            hstsMaxAgeSeconds: args.hstsMaxAgeSeconds,
        });
        const certificateUploads = args.originCertificate
            ? [
                  { file: ORIGIN_CERT_FILE, content: args.originCertificate.certificatePem, permissions: "0644" },
                  // The key: a secret in state, 0600 in the container, never logged.
                  { file: ORIGIN_KEY_FILE, content: pulumi.secret(args.originCertificate.privateKeyPem), permissions: "0600" },
              ]
            : [];
        this.dataVolume = new docker.Volume(
            `${name}-data`,
            { name: `${args.namePrefix}-caddy-data`, labels: [{ label: "org.byte-runner.data", value: "caddy" }] },
            { ...childOf(this, opts), retainOnDelete: true },
        );
        this.container = serviceContainer(
            name,
            {
                containerName: caddyContainerName(args.namePrefix),
                image: serviceImage(`${name}-image`, args.image, "", childOf(this, opts)),
                networks: [{ name: args.edgeNetwork, aliases: ["caddy"] }, ...args.extraNetworks],
                command: ["caddy", "run", "--config", CADDY_CONFIG_FILE, "--adapter", "caddyfile"],
                clearEnv: { XDG_DATA_HOME: "/data", XDG_CONFIG_HOME: "/config" },
                uploads: [{ file: CADDY_CONFIG_FILE, content: this.caddyfile, permissions: "0644" }, ...certificateUploads],
                // TCP only: the host firewall opens TCP 80/443 (no HTTP/3 over UDP).
                ports: PROXY_PORTS.map((port) => ({ internal: port, external: port, protocol: "tcp" })),
                // A reload (each release) binds the ports anew beside the old config's sockets
                // (SO_REUSEPORT) and closes those: without this, connections still in a closed
                // socket's handshake or accept queue are reset instead of handed to the new one
                // (kernel >= 5.14; INFRASTRUCTURE.md, Deploys and rollbacks).
                sysctls: { "net.ipv4.tcp_migrate_req": "1" },
                volumes: [
                    { volumeName: this.dataVolume.name, containerPath: "/data" },
                    // The apps' upstream files: a release rewrites its own and reloads Caddy.
                    { hostPath: upstreamsHostDir(args.namePrefix), containerPath: CADDY_UPSTREAMS_DIR, readOnly: true },
                ],
                // busybox wget in the official image, curl in others.
                healthcheck: [
                    "CMD-SHELL",
                    "wget -q -O /dev/null http://127.0.0.1:2019/config/ 2>/dev/null || curl -fsS -o /dev/null http://127.0.0.1:2019/config/",
                ],
                limits: args.limits,
                logRotation: args.logRotation,
            },
            childOf(this, opts),
        );
        this.registerOutputs({});
    }
}
