import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { childOf } from "../shared/options";

export interface OriginCertificateArgs {
    zoneId: string;
    /** Hostnames the certificate covers (all must be in the zone). */
    hostnames: string[];
    /** Also set the zone's SSL mode to Full (strict) (dnsManageZoneSettings; off when the zone is shared). */
    manageZoneSettings: boolean;
}

/** 15 years, Cloudflare's longest: renewal is a `pulumi up --replace`, not a calendar chore. */
const VALIDITY_DAYS = 5475;

/**
 * A Cloudflare Origin CA certificate made as code: the private key and CSR are made by
 * the tls provider (the key exists only as a secret in state and in Caddy's container),
 * Cloudflare signs the CSR, and with proxied records the edge trusts it under Full (strict).
 */
export class OriginCertificate extends pulumi.ComponentResource {
    public readonly certificatePem: pulumi.Output<string>;
    public readonly privateKeyPem: pulumi.Output<string>;

    constructor(name: string, args: OriginCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("byte-runner:tls:OriginCertificate", name, {}, opts);
        const key = new tls.PrivateKey(`${name}-key`, { algorithm: "ECDSA", ecdsaCurve: "P256" }, childOf(this, opts));
        const csr = new tls.CertRequest(
            `${name}-csr`,
            { privateKeyPem: key.privateKeyPem, dnsNames: args.hostnames, subject: { commonName: args.hostnames[0], organization: "byte-runner" } },
            childOf(this, opts),
        );
        const certificate = new cloudflare.OriginCaCertificate(
            `${name}-cert`,
            // Sorted: the API returns hostnames in its own order, which must not read as a change.
            { csr: csr.certRequestPem, hostnames: [...args.hostnames].sort(), requestType: "origin-ecc", requestedValidity: VALIDITY_DAYS },
            // The provider reports these back differently from what was sent (pulumi-cloudflare
            // issues on forced replacement); a new certificate is a deliberate --replace.
            { ...childOf(this, opts), ignoreChanges: ["csr", "requestedValidity"] },
        );
        if (args.manageZoneSettings) {
            new cloudflare.ZoneSetting(`${name}-ssl-strict`, { zoneId: args.zoneId, settingId: "ssl", value: "strict" }, childOf(this, opts));
        }
        this.certificatePem = certificate.certificate;
        this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        this.registerOutputs({ certificatePem: this.certificatePem });
    }
}
