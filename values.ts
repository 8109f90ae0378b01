// What a config value is, not only what it looks like: addresses and CIDRs parsed to
// their bits, SSH keys decoded to the key they name, image references to their tag.
// Pure (no Pulumi, no I/O): config.ts declares its keys with these checks.
import * as crypto from "node:crypto";

const HOSTNAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// registry/path:tag or registry/path@sha256:<64 hex> (tag optional before the digest).
const IMAGE_REF = /^[a-z0-9]+([._-][a-z0-9]+)*(:\d+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;

/** A lower-case DNS name with at least two labels and an alphabetic top-level label. */
export function isHostname(value: string): boolean {
    return HOSTNAME.test(value) && /[a-z]/.test(value.slice(value.lastIndexOf(".") + 1));
}

export function isIpv4(value: string): boolean {
    return IPV4.test(value);
}

/** The 16 bytes of an IPv6 address in any RFC 4291 text form (:: once, dotted IPv4 tail), or undefined. */
export function ipv6Bytes(value: string): number[] | undefined {
    let text = value.toLowerCase();
    const tail: number[] = [];
    const lastColon = text.lastIndexOf(":");
    if (text.includes(".")) {
        const v4 = text.slice(lastColon + 1);
        if (!IPV4.test(v4)) return undefined;
        const [a, b, c, d] = v4.split(".").map(Number);
        text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
    }
    const halves = text.split("::");
    if (halves.length > 2) return undefined;
    const groups = (s: string) => (s === "" ? [] : s.split(":"));
    const head = groups(halves[0]);
    const rest = halves.length === 2 ? groups(halves[1]) : [];
    const missing = 8 - head.length - rest.length;
    if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
    const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...rest];
    if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return undefined;
    for (const g of all) tail.push(parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff);
    return tail;
}

export function isIpv6(value: string): boolean {
    return ipv6Bytes(value) !== undefined;
}

/** Why a value is not a network CIDR (address/prefix with no host bits set), or undefined when it is one. */
export function cidrProblem(value: string): string | undefined {
    const [address, bits, extra] = value.split("/");
    if (extra !== undefined || bits === undefined || !/^\d{1,3}$/.test(bits)) return "not address/prefix";
    const bytes = isIpv4(address) ? address.split(".").map(Number) : ipv6Bytes(address);
    if (bytes === undefined) return "not an IPv4 or IPv6 address";
    const prefix = Number(bits);
    if (prefix > bytes.length * 8) return `prefix longer than ${bytes.length * 8}`;
    const hostBitsSet = bytes.some((byte, i) => (byte & (0xff >> Math.max(0, Math.min(8, prefix - i * 8)))) !== 0);
    return hostBitsSet ? "host bits set: a network address has them all zero" : undefined;
}

/** The tag of an image reference (empty when it has none). */
export function imageTag(ref: string): string {
    const withoutDigest = ref.split("@")[0];
    const lastSegment = withoutDigest.slice(withoutDigest.lastIndexOf("/") + 1);
    return lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : "";
}

/**
 * True for an image pinned to a version: a digest, or a tag that names a version (v1.2,
 * 15.18-bookworm, staging-2026.11.20). Tags without a digit (latest, stable, alpine,
 * bookworm) move under the same name and are refused.
 */
export function isPinnedImage(ref: string): boolean {
    if (!IMAGE_REF.test(ref)) return false;
    if (ref.includes("@sha256:")) return true;
    return /\d/.test(imageTag(ref));
}

/** Reads the length-prefixed strings of the SSH wire format (RFC 4251), or undefined when the data is cut short. */
function sshStrings(data: Buffer, count: number, from = 0): { parts: Buffer[]; end: number } | undefined {
    const parts: Buffer[] = [];
    let at = from;
    for (let i = 0; i < count; i++) {
        if (at + 4 > data.length) return undefined;
        const length = data.readUInt32BE(at);
        if (at + 4 + length > data.length) return undefined;
        parts.push(data.subarray(at + 4, at + 4 + length));
        at += 4 + length;
    }
    return { parts, end: at };
}

const base64url = (b: Buffer) => b.toString("base64url");
/** An SSH mpint as the unsigned big-endian bytes JWK wants. */
const unsigned = (b: Buffer) => (b[0] === 0 ? b.subarray(1) : b);
const CURVES: Record<string, { jwk: string; size: number }> = {
    nistp256: { jwk: "P-256", size: 32 },
    nistp384: { jwk: "P-384", size: 48 },
    nistp521: { jwk: "P-521", size: 66 },
};

/** The public key an SSH wire-format key blob holds, checked by the crypto library, or why it is none. */
function sshPublicKey(blob: Buffer): { type: string; key?: crypto.KeyObject; problem?: string } {
    const type = sshStrings(blob, 1)?.parts[0].toString("latin1") ?? "";
    const fail = (problem: string) => ({ type, problem });
    try {
        if (type === "ssh-ed25519") {
            const read = sshStrings(blob, 2);
            if (!read || read.end !== blob.length || read.parts[1].length !== 32) return fail("an ssh-ed25519 key without its 32 bytes of key");
            return { type, key: crypto.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: base64url(read.parts[1]) }, format: "jwk" }) };
        }
        if (type === "ssh-rsa") {
            const read = sshStrings(blob, 3);
            if (!read || read.end !== blob.length) return fail("an ssh-rsa key without an exponent and a modulus");
            const key = crypto.createPublicKey({ key: { kty: "RSA", e: base64url(unsigned(read.parts[1])), n: base64url(unsigned(read.parts[2])) }, format: "jwk" });
            if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) return fail("an RSA key shorter than 2048 bits");
            return { type, key };
        }
        const curve = /^ecdsa-sha2-(nistp\d+)$/.exec(type)?.[1];
        if (curve && CURVES[curve]) {
            const read = sshStrings(blob, 3);
            const point = read?.parts[2];
            const { jwk, size } = CURVES[curve];
            if (!read || read.end !== blob.length || read.parts[1].toString("latin1") !== curve || !point || point.length !== 1 + 2 * size || point[0] !== 4) {
                return fail(`an ${type} key that is not an uncompressed point of ${curve}`);
            }
            const x = base64url(point.subarray(1, 1 + size));
            const y = base64url(point.subarray(1 + size));
            return { type, key: crypto.createPublicKey({ key: { kty: "EC", crv: jwk, x, y }, format: "jwk" }) };
        }
        return fail(`a key of type ${JSON.stringify(type)} (not ssh-ed25519, ecdsa-sha2-nistp256/384/521 or ssh-rsa)`);
    } catch {
        return fail(`an ${type} key that is no valid key of that type`);
    }
}

/**
 * Why a line is not a public SSH host key as ssh-keyscan prints it (`type base64 [comment]`,
 * the key inside really of the named type), or undefined when it is one.
 */
export function sshHostKeyProblem(line: string): string | undefined {
    const [type, data, ...more] = line.trim().split(/\s+/);
    if (data === undefined || more.length > 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(data) || data.length % 4 !== 0) return "something that is not `type base64` as ssh-keyscan prints it";
    const parsed = sshPublicKey(Buffer.from(data, "base64"));
    if (parsed.type !== type) return `a line that names ${type} over a key of type ${JSON.stringify(parsed.type)}`;
    return parsed.problem;
}

/**
 * Why a text is not a complete, unencrypted private key that SSH can use without a
 * passphrase (OpenSSH's own format or PEM), or undefined when it is one. The text is a
 * secret: the answer never quotes it.
 */
export function sshPrivateKeyProblem(text: string): string | undefined {
    const pem = /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----\r?\n([\s\S]*?)\r?\n?-----END \1PRIVATE KEY-----/.exec(text.trim());
    if (!pem) return "something that is not a private key (-----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE KEY-----)";
    if (pem[1] === "OPENSSH ") {
        const body = pem[2].replace(/\s+/g, "");
        if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return "an OpenSSH private key whose body is not base64";
        const data = Buffer.from(body, "base64");
        const magic = "openssh-key-v1\0";
        if (data.subarray(0, magic.length).toString("latin1") !== magic) return "an OpenSSH private key without its openssh-key-v1 header";
        const head = sshStrings(data, 3, magic.length);
        if (!head) return "an OpenSSH private key cut short";
        const [cipher] = head.parts.map((p) => p.toString("latin1"));
        if (cipher !== "none") return "an encrypted private key (nothing can type its passphrase): remove the passphrase with ssh-keygen -p";
        if (head.end + 4 > data.length || data.readUInt32BE(head.end) !== 1) return "an OpenSSH private key file that does not hold exactly one key";
        const keys = sshStrings(data, 2, head.end + 4);
        if (!keys || keys.end !== data.length) return "an OpenSSH private key cut short or with bytes after its end";
        const [publicBlob, secretPart] = keys.parts;
        const publicKey = sshPublicKey(publicBlob);
        if (publicKey.problem) return `an OpenSSH private key whose public half is unusable (${publicKey.problem})`;
        if (secretPart.length < 8 || secretPart.length % 8 !== 0 || secretPart.readUInt32BE(0) !== secretPart.readUInt32BE(4)) {
            return "an OpenSSH private key whose private section is damaged (check values differ)";
        }
        const inner = sshStrings(secretPart, 1, 8);
        if (inner?.parts[0].toString("latin1") !== publicKey.type) return "an OpenSSH private key whose private section names another key type";
        return undefined;
    }
    try {
        crypto.createPrivateKey({ key: pem[0], format: "pem" });
        return undefined;
    } catch (e) {
        const reason = e instanceof Error && /passphrase/i.test(e.message) ? "an encrypted private key (nothing can type its passphrase)" : "a PEM private key that does not decode";
        return reason;
    }
}

/** Why a text is not a postgresql:// URL with a user, a host and a database, or undefined. Never quotes it (it holds a password). */
export function postgresUrlProblem(text: string): string | undefined {
    let url: URL;
    try {
        url = new URL(text);
    } catch {
        return "something that is not a URL";
    }
    if (url.protocol !== "postgresql:" && url.protocol !== "postgres:") return "a URL that is not postgresql://";
    if (url.username === "" || url.hostname === "") return "a URL without a user or a host";
    if (url.pathname.length < 2 || url.pathname.slice(1).includes("/")) return "a URL without a database name";
    return undefined;
}

/** The fields of a cron schedule: name and range. Day of week 0-7 (0 and 7 are Sunday). */
const CRON_FIELDS = [
    { name: "minute", min: 0, max: 59 },
    { name: "hour", min: 0, max: 23 },
    { name: "day of month", min: 1, max: 31 },
    { name: "month", min: 1, max: 12 },
    { name: "day of week", min: 0, max: 7 },
] as const;

/** One item of a cron field: the range it covers (`*` is the field's, `n/step` runs to its end) and its step. */
interface CronItem {
    from: number;
    to: number;
    step: number;
    /** The numbers written in it, for the range check. */
    written: number[];
}

/** An item of a field (`*`, `n`, `a-b`, any of them `/step`), or undefined when it is none of these. */
function cronItem(item: string, field: (typeof CRON_FIELDS)[number]): CronItem | undefined {
    const m = /^(?:\*|(\d+)(?:-(\d+))?)(?:\/(\d+))?$/.exec(item);
    if (!m) return undefined;
    const [, from, to, step] = m;
    const written = [from, to].filter((n): n is string => n !== undefined).map(Number);
    const first = from === undefined ? field.min : Number(from);
    const last = to !== undefined ? Number(to) : from === undefined || step !== undefined ? field.max : first;
    return { from: first, to: last, step: step === undefined ? 1 : Number(step), written };
}

/** A schedule's fields as cron splits them. */
function cronFields(text: string): string[] {
    return text.trim().split(/\s+/);
}

/**
 * Why a text is not a five-field cron schedule with numbers only (`*`, `n`, `a-b`, any
 * of them `/step`, comma lists), each within its field's range, or undefined. Names
 * (mon, jan) and `@daily` are refused: one way to write a schedule, read by cron as given.
 */
export function cronScheduleProblem(text: string): string | undefined {
    const fields = cronFields(text);
    if (fields.length !== 5) return `${fields.length} fields (a schedule has 5: minute hour day-of-month month day-of-week)`;
    for (const [i, field] of fields.entries()) {
        const spec = CRON_FIELDS[i];
        for (const item of field.split(",")) {
            const parsed = cronItem(item, spec);
            if (!parsed) return `${JSON.stringify(item)} in the ${spec.name} field (expected *, a number, a range a-b, any of them /step)`;
            if (parsed.written.some((n) => n < spec.min || n > spec.max)) return `${JSON.stringify(item)} in the ${spec.name} field (expected ${spec.min} to ${spec.max})`;
            if (parsed.written.length === 2 && parsed.from > parsed.to) return `${JSON.stringify(item)} in the ${spec.name} field (a range must go up)`;
            if (parsed.step < 1 || parsed.step > spec.max) return `${JSON.stringify(item)} in the ${spec.name} field (a step from 1 to ${spec.max})`;
        }
    }
    return undefined;
}

/** The values field `index` of a valid schedule matches (cronScheduleProblem must have passed). */
function cronFieldValues(fields: string[], index: number): Set<number> {
    const values = new Set<number>();
    for (const item of fields[index].split(",")) {
        const { from, to, step } = cronItem(item, CRON_FIELDS[index])!;
        for (let n = from; n <= to; n += step) values.add(n);
    }
    return values;
}

/** Whether a valid cron schedule runs at the minute starting at `date` (UTC). */
function cronMatcher(schedule: string): (date: Date) => boolean {
    const fields = cronFields(schedule);
    const [minutes, hours, days, months] = [0, 1, 2, 3].map((index) => cronFieldValues(fields, index));
    const weekdays = new Set([...cronFieldValues(fields, 4)].map((d) => d % 7));
    const [, , dayOfMonth, , dayOfWeek] = fields;
    // Vixie cron: when both day fields are restricted, either one matching is enough.
    const eitherDay = dayOfMonth !== "*" && dayOfWeek !== "*";
    return (d) => {
        if (!minutes.has(d.getUTCMinutes()) || !hours.has(d.getUTCHours()) || !months.has(d.getUTCMonth() + 1)) return false;
        const dayOk = days.has(d.getUTCDate());
        const weekdayOk = weekdays.has(d.getUTCDay());
        return eitherDay ? dayOk || weekdayOk : dayOk && weekdayOk;
    };
}

/**
 * The longest time in seconds between two runs of any of some valid cron schedules, over
 * the 400 days from 2024-01-01 UTC (leap years and months of every length included). Alerts
 * on a late backup use it: a job is late when its newest run is older than this plus a slack.
 */
export function cronLongestGapSeconds(...schedules: string[]): number {
    const matchers = schedules.map(cronMatcher);
    const start = Date.UTC(2024, 0, 1) / 1000;
    let previous: number | undefined;
    let longest = 0;
    for (let t = start; t < start + 400 * 86400; t += 60) {
        const date = new Date(t * 1000);
        if (!matchers.some((runs) => runs(date))) continue;
        if (previous !== undefined) longest = Math.max(longest, t - previous);
        previous = t;
    }
    if (previous === undefined) throw new Error(`cron schedules ${JSON.stringify(schedules)} never run`);
    // Runs once in the window (a yearly schedule): the next run is a year later.
    return longest === 0 ? 366 * 86400 : longest;
}

/** Why a text is not an S3 bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit, not an IP address), or undefined. */
export function s3BucketProblem(text: string): string | undefined {
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(text)) return "a name that is not 3 to 63 lower-case letters, digits, dots or dashes starting and ending with a letter or digit";
    if (text.includes("..")) return "a name with two dots in a row";
    if (isIpv4(text)) return "an IP address";
    return undefined;
}

/** Why a text is not one or more PEM certificates that decode, or undefined. */
export function pemCertificatesProblem(text: string): string | undefined {
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (blocks.length === 0) return "no PEM certificate (-----BEGIN CERTIFICATE-----)";
    for (const block of blocks) {
        try {
            new crypto.X509Certificate(block);
        } catch {
            return "a PEM certificate that does not decode";
        }
    }
    return undefined;
}
