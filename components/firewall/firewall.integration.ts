// components/firewall/firewall.sh for real: rules applied inside a "vps" network namespace, scanned
// from an "outside" namespace over a veth link. Needs root, nftables and iproute2; the
// Docker part also docker.io, iptables and busybox-static.
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { dockerUnavailableReason, VpsDockerEngine } from "./docker-engine";
import { address, Lab, must, NAMESPACE_PREFIX, run, TABLE, waitForLine } from "./lab";

/** What runs on the VPS: sshd, Caddy, Postgres, PgBouncer, SuperTokens. */
const HOST_PORTS = [22, 80, 443, 5432, 6432, 3567];
const ADMIN_CIDRS = `${address.admin.v4}/32 ${address.admin.v6}/128`;
/** Stands in for Cloudflare's ranges: only the "edge" address of the outside namespace. */
const EDGE_RANGES = `${address.edge.v4}/32 ${address.edge.v6}/128`;

describe("firewall.sh in a vps namespace, scanned from outside", () => {
    const lab = new Lab("");
    before(async () => {
        await lab.create();
        await lab.listen(HOST_PORTS);
    });
    after(() => lab.destroy());

    test("without the firewall every listener answers from outside (so a closed port below means filtered)", async () => {
        await lab.removeFirewall();
        assert.deepEqual(await lab.answering("stranger", "v4", HOST_PORTS), HOST_PORTS);
        assert.deepEqual(await lab.answering("stranger", "v6", HOST_PORTS), HOST_PORTS);
    });

    test("default deny: SSH only from the admin CIDRs, 80/443 from everywhere, nothing else", async () => {
        const summary = await lab.applyFirewall({ ADMIN_CIDRS });
        assert.match(summary, /^firewall: applied .*SSH 22 from 2 admin CIDR\(s\); TCP 80,443 from everywhere/);
        for (const family of ["v4", "v6"] as const) {
            assert.deepEqual(await lab.answering("admin", family, HOST_PORTS), [22, 80, 443], `admin ${family}`);
            assert.deepEqual(await lab.answering("stranger", family, HOST_PORTS), [80, 443], `stranger ${family}`);
        }
        const results = await lab.scan([{ from: "stranger", family: "v4", port: 5432 }]);
        assert.deepEqual(results, ["filtered"], "a closed port is dropped silently, not refused");
        assert.deepEqual(await lab.answeringInside(HOST_PORTS), HOST_PORTS, "the services still answer on the host itself");
    });

    test("empty ADMIN_CIDRS opens SSH to everyone, with a warning", async () => {
        const result = await lab.firewall({ ADMIN_CIDRS: "" });
        assert.equal(result.code, 0, result.stderr);
        assert.match(result.stderr, /warning: ADMIN_CIDRS is empty: SSH port 22 is open to everyone/);
        assert.deepEqual(await lab.answering("stranger", "v4", HOST_PORTS), [22, 80, 443]);
    });

    test("CLOUDFLARE_ONLY=1: the public ports answer only addresses inside CLOUDFLARE_RANGES", async () => {
        await lab.applyFirewall({ ADMIN_CIDRS, CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: EDGE_RANGES });
        for (const family of ["v4", "v6"] as const) {
            assert.deepEqual(await lab.answering("edge", family, HOST_PORTS), [80, 443], `edge ${family}`);
            assert.deepEqual(await lab.answering("stranger", family, HOST_PORTS), [], `stranger ${family}`);
            assert.deepEqual(await lab.answering("admin", family, HOST_PORTS), [22], `admin ${family}`);
        }
    });

    test("SSH_PORT and PUBLIC_PORTS move the open ports", async () => {
        await lab.applyFirewall({ ADMIN_CIDRS, SSH_PORT: "3567", PUBLIC_PORTS: "443" });
        assert.deepEqual(await lab.answering("admin", "v4", HOST_PORTS), [443, 3567]);
        assert.deepEqual(await lab.answering("stranger", "v4", HOST_PORTS), [443]);
    });

    test("applying the same settings twice leaves the table identical, and --check tells", async () => {
        const settings = { ADMIN_CIDRS, CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: EDGE_RANGES };
        await lab.removeFirewall();
        assert.equal((await lab.firewall(settings, ["--check"])).code, 3, "--check on a host without the table");
        await lab.applyFirewall(settings);
        const first = await lab.listTable();
        const second = await lab.applyFirewall(settings);
        assert.match(first, /policy drop/);
        assert.equal(await lab.listTable(), first);
        assert.match(second, /re-applied \(unchanged\)/);
        assert.equal((await lab.firewall(settings, ["--check"])).code, 0, "--check with the applied settings");
        assert.equal((await lab.firewall({ ...settings, CLOUDFLARE_ONLY: "0" }, ["--check"])).code, 3, "--check with other settings");

        await must("ip", ["netns", "exec", lab.vps, "nft", "add", "rule", "inet", TABLE, "allowed_services", "tcp", "dport", "5432", "accept"]);
        const afterHandEdit = await lab.firewall(settings, ["--check"]);
        assert.equal(afterHandEdit.code, 3, "--check after a hand edit");
        assert.match(afterHandEdit.stdout, /edited by hand/);
        await lab.applyFirewall(settings);
        assert.equal(await lab.listTable(), first, "re-applying puts the hand edit right");
    });

    test("bad settings are rejected naming the key, and the rules in place stay", async () => {
        await lab.applyFirewall({ ADMIN_CIDRS, CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: EDGE_RANGES });
        const before = await lab.listTable();
        const badSettings: [Record<string, string>, RegExp][] = [
            [{ ADMIN_CIDRS: "10.213.0.300/32" }, /ADMIN_CIDRS: '10\.213\.0\.300\/32'/],
            [{ ADMIN_CIDRS: "fd00:213::2/129" }, /ADMIN_CIDRS: 'fd00:213::2\/129'/],
            [{ ADMIN_CIDRS: "10.213.0.2/16" }, /ADMIN_CIDRS: .*host bits/],
            [{ SSH_PORT: "70000" }, /SSH_PORT: '70000'/],
            [{ PUBLIC_PORTS: "80 https" }, /PUBLIC_PORTS: 'https'/],
            [{ CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: "10.213.0.3/32 nonsense" }, /CLOUDFLARE_RANGES: 'nonsense'/],
            [{ CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: "" }, /CLOUDFLARE_RANGES: empty/],
            [{ CLOUDFLARE_ONLY: "yes" }, /CLOUDFLARE_ONLY: 'yes'/],
            [{ ADMIN_CIDR: ADMIN_CIDRS }, /invalid setting ADMIN_CIDR: unknown key/],
            [{ ADMIN_CIDRS: "10.213.0.2" }, /ADMIN_CIDRS: '10\.213\.0\.2': no prefix length/],
        ];
        for (const [settings, message] of badSettings) {
            const result = await lab.firewall(settings);
            assert.equal(result.code, 2, `${JSON.stringify(settings)} exit status; stderr: ${result.stderr}`);
            assert.match(result.stderr, message);
            assert.equal(await lab.listTable(), before, `${JSON.stringify(settings)} must not touch the rules`);
        }
        assert.deepEqual(await lab.answering("edge", "v4", HOST_PORTS), [80, 443], "the old rules still filter");
    });

    test("an established SSH session survives rules that no longer admit its address", async () => {
        await lab.removeFirewall();
        const session = lab.openSession("stranger", 22);
        try {
            await waitForLine(session, /^connected$/);
            await lab.applyFirewall({ ADMIN_CIDRS });
            session.stdin!.write("still-here\n");
            await waitForLine(session, /^echo:still-here$/);
            assert.deepEqual(await lab.answering("stranger", "v4", [22]), [], "a new SSH connection from there is dropped");
        } finally {
            session.stdin!.end();
            session.kill();
        }
    });

    test("the lockout guard refuses rules that would shut out the SSH session applying them", async () => {
        await lab.applyFirewall({ ADMIN_CIDRS: "" });
        const before = await lab.listTable();
        const fromStranger = { SSH_CONNECTION: `${address.stranger.v4} 50000 ${address.vps.v4} 22` };
        const refused = await lab.firewall({ ADMIN_CIDRS }, [], fromStranger);
        assert.equal(refused.code, 2, refused.stderr);
        assert.match(refused.stderr, /ADMIN_CIDRS: this SSH session comes from 10\.213\.0\.4, which is not in it/);
        assert.equal(await lab.listTable(), before);

        const wrongPort = await lab.firewall({ ADMIN_CIDRS, SSH_PORT: "2222" }, [], { SSH_CONNECTION: `${address.admin.v6} 50000 ${address.vps.v6} 22` });
        assert.equal(wrongPort.code, 2, wrongPort.stderr);
        assert.match(wrongPort.stderr, /SSH_PORT: this session came in on port 22, not 2222/);

        const fromAdmin = await lab.firewall({ ADMIN_CIDRS }, [], { SSH_CONNECTION: `${address.admin.v6} 50000 ${address.vps.v6} 22` });
        assert.equal(fromAdmin.code, 0, fromAdmin.stderr);
        const overridden = await lab.firewall({ ADMIN_CIDRS, ALLOW_LOCKOUT: "1" }, [], fromStranger);
        assert.equal(overridden.code, 0, overridden.stderr);
    });

    test("the saved ruleset rebuilds the same table after a reboot (a fresh namespace)", async () => {
        const persistDir = path.join(lab.tempDir, "persist");
        await lab.applyFirewall({ ADMIN_CIDRS, CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: EDGE_RANGES, PERSIST_DIR: persistDir });
        const savedFile = path.join(persistDir, "firewall.nft");
        assert.ok(existsSync(savedFile), "firewall.nft written");
        const bootNamespace = `${NAMESPACE_PREFIX}boot-${process.pid}`;
        await must("ip", ["netns", "add", bootNamespace]);
        try {
            await must("ip", ["netns", "exec", bootNamespace, "nft", "-f", savedFile]);
            const rebuilt = await must("ip", ["netns", "exec", bootNamespace, "nft", "list", "table", "inet", TABLE]);
            assert.equal(rebuilt, await lab.listTable());
        } finally {
            await run("ip", ["netns", "delete", bootNamespace]);
        }
    });

    test("--remove undoes it: the table and its saved copy go, every port answers again", async () => {
        const persistDir = path.join(lab.tempDir, "persist-remove");
        await lab.applyFirewall({ ADMIN_CIDRS, PERSIST_DIR: persistDir });
        const removed = await lab.firewall({ PERSIST_DIR: persistDir }, ["--remove"]);
        assert.equal(removed.code, 0, removed.stderr);
        assert.equal(await lab.listTable(), "");
        assert.ok(!existsSync(path.join(persistDir, "firewall.nft")));
        assert.deepEqual(await lab.answering("stranger", "v4", HOST_PORTS), HOST_PORTS);
    });

    test("the committed Cloudflare list is accepted as CLOUDFLARE_RANGES", async () => {
        const listFile = path.resolve(__dirname, "cloudflare-ips.txt");
        const ranges = readFileSync(listFile, "utf8")
            .split("\n")
            .map((line) => line.trim())
            .filter((line) => line && !line.startsWith("#"));
        assert.ok(ranges.some((range) => range.includes(":")) && ranges.some((range) => range.includes(".")), "IPv4 and IPv6 ranges");
        const summary = await lab.applyFirewall({ ADMIN_CIDRS, CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: ranges.join(" ") });
        assert.match(summary, new RegExp(`from ${ranges.length} Cloudflare range\\(s\\)`));
        assert.deepEqual(await lab.answering("edge", "v4", HOST_PORTS), [], "the lab's addresses are not Cloudflare's");
    });
});

const dockerSkipReason = dockerUnavailableReason();

describe("Docker-published ports cannot bypass the firewall", { skip: dockerSkipReason }, () => {
    // Its own namespaces, so Docker's rules never mix with the suite above.
    const lab = new Lab("d");
    let engine: VpsDockerEngine | undefined;
    /** Postgres-like container port published on the vps address: must stay closed from outside. */
    const PRIVATE_PUBLISHED = 15432;
    /** A container serving the web, published on a port the firewall opens (like Caddy on 443). */
    const WEB_PUBLISHED = 8443;
    const OUTSIDE_ECHO_PORT = 7000;
    let databaseAddress = "";

    before(async () => {
        await lab.create();
        await lab.listen([OUTSIDE_ECHO_PORT], lab.outside);
        engine = new VpsDockerEngine(lab.vps, lab.tempDir);
        await engine.start();
        await engine.importImage();
        databaseAddress = await engine.runWebServer("fwtest-db", 5432, "db-answers", [`${PRIVATE_PUBLISHED}:5432`]);
        await engine.runWebServer("fwtest-web", WEB_PUBLISHED, "web-answers", [`${WEB_PUBLISHED}:${WEB_PUBLISHED}`]);
    });
    after(async () => {
        await engine?.stop();
        await lab.destroy();
    });

    const publicSettings = { ADMIN_CIDRS, PUBLIC_PORTS: `80 443 ${WEB_PUBLISHED}` };
    const ports = [PRIVATE_PUBLISHED, WEB_PUBLISHED];

    test("without the firewall both published ports answer from outside (Docker's DNAT bypasses INPUT)", async () => {
        await lab.removeFirewall();
        assert.deepEqual(await lab.answering("stranger", "v4", ports), ports);
        assert.deepEqual(await lab.answering("admin", "v4", ports), ports);
    });

    test("with the firewall the private published port is dropped, the public one answers", async () => {
        await lab.applyFirewall(publicSettings);
        for (const family of ["v4", "v6"] as const) {
            assert.deepEqual(await lab.answering("stranger", family, ports), [WEB_PUBLISHED], `stranger ${family}`);
            assert.deepEqual(await lab.answering("admin", family, ports), [WEB_PUBLISHED], `admin ${family}`);
        }
    });

    test("CLOUDFLARE_ONLY=1 applies to Docker-published public ports too", async () => {
        await lab.applyFirewall({ ...publicSettings, CLOUDFLARE_ONLY: "1", CLOUDFLARE_RANGES: EDGE_RANGES });
        assert.deepEqual(await lab.answering("edge", "v4", ports), [WEB_PUBLISHED]);
        assert.deepEqual(await lab.answering("stranger", "v4", ports), []);
    });

    test("with the firewall, container to container and container to the internet still work", async () => {
        await lab.applyFirewall(publicSettings);
        // nc, not wget: the static busybox's wget crashes resolving names without NSS.
        const fromContainer = await engine!.docker([
            "exec",
            "fwtest-web",
            "sh",
            "-c",
            `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 ${databaseAddress} 5432`,
        ]);
        assert.match(fromContainer.stdout, /db-answers/, `exit ${fromContainer.code}: ${fromContainer.stderr}`);
        const outbound = await engine!.docker([
            "exec",
            "fwtest-web",
            "sh",
            "-c",
            `echo outbound-answers | busybox nc -w 2 ${address.admin.v4} ${OUTSIDE_ECHO_PORT}`,
        ]);
        assert.equal(outbound.stdout.trim(), "outbound-answers", `exit ${outbound.code}: ${outbound.stderr}`);
    });
});
