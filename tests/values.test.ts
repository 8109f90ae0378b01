// What a value is, checked against the real thing: keys made by ssh-keygen and by
// OpenSSL, addresses in every text form, CIDRs with and without host bits.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, it } from "node:test";
import { cidrProblem, cronLongestGapSeconds, ipv6Bytes, isPinnedImage, postgresUrlProblem, sshHostKeyProblem, sshPrivateKeyProblem } from "../values";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "values-test-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function keygen(name: string, ...args: string[]): { privateKey: string; publicKey: string } {
    const file = path.join(dir, name);
    const r = spawnSync("ssh-keygen", ["-q", "-C", "", "-N", "", "-f", file, ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, `ssh-keygen (openssh-client) must be installed: ${r.stderr ?? r.error}`);
    return { privateKey: fs.readFileSync(file, "utf8"), publicKey: fs.readFileSync(`${file}.pub`, "utf8").trim() };
}

const KEYS = {
    ed25519: keygen("ed25519", "-t", "ed25519"),
    rsa: keygen("rsa", "-t", "rsa", "-b", "3072"),
    ecdsa256: keygen("ecdsa256", "-t", "ecdsa", "-b", "256"),
    ecdsa384: keygen("ecdsa384", "-t", "ecdsa", "-b", "384"),
    ecdsa521: keygen("ecdsa521", "-t", "ecdsa", "-b", "521"),
    rsaPem: keygen("rsa-pem", "-t", "rsa", "-b", "2048", "-m", "PEM"),
};

describe("SSH host keys", () => {
    it("accepts a real public key of every type ssh-keyscan prints", () => {
        for (const [name, key] of Object.entries(KEYS)) assert.equal(sshHostKeyProblem(key.publicKey), undefined, name);
    });

    it("refuses a key whose blob is of another type than the line names", () => {
        const [, ecdsaBlob] = KEYS.ecdsa256.publicKey.split(" ");
        assert.match(sshHostKeyProblem(`ecdsa-sha2-nistp384 ${ecdsaBlob}`) ?? "", /names ecdsa-sha2-nistp384 over a key of type "ecdsa-sha2-nistp256"/);
    });

    it("refuses a point that is not on its curve, and keys of the right length but no substance", () => {
        const [type, blob] = KEYS.ecdsa256.publicKey.split(" ");
        const bytes = Buffer.from(blob, "base64");
        bytes[bytes.length - 1] ^= 0x01; // y no longer matches x
        assert.match(sshHostKeyProblem(`${type} ${bytes.toString("base64")}`) ?? "", /no valid key/);
        const weak = keygen("rsa1024", "-t", "rsa", "-b", "1024");
        assert.match(sshHostKeyProblem(weak.publicKey) ?? "", /shorter than 2048 bits/);
    });

    it("refuses a key cut short, bytes after its end, and a comment or host name around it", () => {
        const [type, blob] = KEYS.ed25519.publicKey.split(" ");
        const bytes = Buffer.from(blob, "base64");
        assert.notEqual(sshHostKeyProblem(`${type} ${bytes.subarray(0, bytes.length - 3).toString("base64")}`), undefined);
        assert.notEqual(sshHostKeyProblem(`${type} ${Buffer.concat([bytes, Buffer.alloc(3)]).toString("base64")}`), undefined);
        assert.notEqual(sshHostKeyProblem(`vps.example.com ${type} ${blob}`), undefined);
        assert.notEqual(sshHostKeyProblem(`${type} ${blob} root@vps`), undefined);
    });
});

describe("SSH private keys", () => {
    it("accepts complete unencrypted keys of every type, OpenSSH format and PEM, and OpenSSL's PKCS#8", () => {
        for (const [name, key] of Object.entries(KEYS)) assert.equal(sshPrivateKeyProblem(key.privateKey), undefined, name);
        const pkcs8 = crypto.generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }).toString();
        assert.equal(sshPrivateKeyProblem(pkcs8), undefined);
    });

    it("refuses a key with any line missing, the end marker missing, or a passphrase", () => {
        for (const [name, key] of Object.entries(KEYS)) {
            const lines = key.privateKey.trim().split("\n");
            for (let i = 1; i < lines.length - 1; i++) {
                const cut = [...lines.slice(0, i), ...lines.slice(i + 1)].join("\n");
                assert.notEqual(sshPrivateKeyProblem(cut), undefined, `${name} without line ${i}`);
            }
            assert.notEqual(sshPrivateKeyProblem(lines.slice(0, -1).join("\n")), undefined, `${name} without its end marker`);
        }
        const file = path.join(dir, "locked");
        spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "a passphrase", "-C", "", "-f", file]);
        assert.match(sshPrivateKeyProblem(fs.readFileSync(file, "utf8")) ?? "", /encrypted/);
    });

    it("refuses an OpenSSH key whose private section is damaged or that has bytes after its end", () => {
        const body = KEYS.ed25519.privateKey.split("\n").filter((l) => l && !l.startsWith("-----")).join("");
        const data = Buffer.from(body, "base64");
        const wrap = (b: Buffer) => `-----BEGIN OPENSSH PRIVATE KEY-----\n${b.toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`;
        assert.equal(sshPrivateKeyProblem(wrap(data)), undefined, "the re-wrapped key itself is fine");
        // The private section is the last string: its length field, then two equal check values.
        let damaged: Buffer | undefined;
        for (let at = data.length - 8; at > 0; at--) {
            if (data.readUInt32BE(at) === data.length - at - 4 && data.readUInt32BE(at + 4) === data.readUInt32BE(at + 8)) {
                damaged = Buffer.from(data);
                damaged[at + 8] ^= 0xff;
                break;
            }
        }
        assert.ok(damaged, "found the private section");
        assert.match(sshPrivateKeyProblem(wrap(damaged)) ?? "", /damaged/);
        assert.match(sshPrivateKeyProblem(wrap(Buffer.concat([data, Buffer.alloc(8)]))) ?? "", /bytes after its end/);
    });

    it("never quotes the key in its answer", () => {
        const damaged = KEYS.rsa.privateKey.replace(/\n[A-Za-z0-9+/=]{20}/, "\n");
        const answer = sshPrivateKeyProblem(damaged) ?? "";
        assert.notEqual(answer, "");
        for (const line of damaged.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"))) assert.ok(!answer.includes(line));
    });
});

describe("addresses and CIDRs", () => {
    it("reads IPv6 in every text form, and refuses what is not one", () => {
        assert.deepEqual(ipv6Bytes("::1"), [...Array(15).fill(0), 1]);
        assert.deepEqual(ipv6Bytes("2001:db8::"), [0x20, 0x01, 0x0d, 0xb8, ...Array(12).fill(0)]);
        assert.deepEqual(ipv6Bytes("::ffff:192.0.2.1"), [...Array(10).fill(0), 0xff, 0xff, 192, 0, 2, 1]);
        assert.deepEqual(ipv6Bytes("1:2:3:4:5:6:7:8")?.length, 16);
        for (const bad of ["1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "g::", ":::", "1:2:3:4:5:6:7::8", "::ffff:300.0.0.1"]) {
            assert.equal(ipv6Bytes(bad), undefined, bad);
        }
    });

    it("accepts network CIDRs and refuses host bits, long prefixes and non-addresses", () => {
        for (const good of ["0.0.0.0/0", "10.0.0.0/8", "198.51.100.0/24", "198.51.100.7/32", "::/0", "2001:db8::/32", "2001:db8::1/128", "2001:db8:0:0:8000::/65"]) {
            assert.equal(cidrProblem(good), undefined, good);
        }
        for (const bad of ["10.0.0.1/8", "198.51.100.1/24", "10.0.0.0/33", "2001:db8::1/32", "2001:db8::/129", "2001:db8:0:0:8000::/64", "10.0.0.0", "10.0.0.0/8/8", "10.0.0/8", "fe80::1%eth0/64"]) {
            assert.notEqual(cidrProblem(bad), undefined, bad);
        }
    });
});

describe("image references and URLs", () => {
    it("counts a tag with a version in it, or a digest, as pinned", () => {
        for (const good of ["postgres:15.18-bookworm", "edoburu/pgbouncer:v1.24.1-p1", "ghcr.io/byte-runner/backend:staging-2026.11.20", `caddy@sha256:${"a".repeat(64)}`, "localhost:5000/app:1"]) {
            assert.ok(isPinnedImage(good), good);
        }
        for (const bad of ["postgres", "postgres:latest", "caddy:alpine", "debian:bookworm", "localhost:5000/app", "Postgres:15"]) assert.ok(!isPinnedImage(bad), bad);
    });

    it("wants a postgresql:// URL with a user, a host and a database, and never quotes it", () => {
        assert.equal(postgresUrlProblem("postgresql://postgres.ref:s3cret@aws-0.pooler.supabase.com:5432/postgres"), undefined);
        for (const bad of ["postgresql://host:5432/db", "postgresql://u:p@host:5432", "postgresql://u:p@host/a/b", "mysql://u:p@host/db", "u:p@host/db"]) {
            const answer = postgresUrlProblem(bad);
            assert.notEqual(answer, undefined, bad);
            assert.ok(!answer?.includes("u:p"), answer);
        }
    });
});

describe("the longest gap of cron schedules (how late a backup may be)", () => {
    const hours = (...schedules: string[]) => cronLongestGapSeconds(...schedules) / 3600;
    it("reads each field as cron does", () => {
        assert.equal(hours("17 3 * * 0"), 168);
        assert.equal(hours("17 3 * * 1-6"), 48); // Saturday to Monday
        assert.equal(hours("0 */6 * * *"), 6);
        assert.equal(hours("0 3/12 * * *"), 12); // n/step runs from n to the end of the field
        assert.equal(hours("*/5 * * * *"), 5 / 60);
        assert.equal(hours("0 12 * * 1,3"), 120); // Wednesday to Monday
        assert.equal(hours("0 0 1 * *"), 31 * 24);
        assert.equal(hours("0 0 29 2 *"), 366 * 24); // once in 2024's leap day, then a year
        // Both day fields restricted: either one is enough (the 1st, or any Monday).
        assert.equal(hours("0 0 1 * 1"), 168);
    });
    it("takes the runs of several schedules together (full and differential backups)", () => {
        assert.equal(hours("17 3 * * 0", "17 3 * * 1-6"), 24);
        assert.equal(hours("0 1 * * 0", "0 13 * * 0"), 156);
    });
});
