// Listens on the given TCP ports (IPv4 and IPv6) and echoes what each client sends.
// Prints "ready" once every port listens; exits when stdin closes, so the listeners die
// with the test process even when it fails. Run inside the "vps" namespace.
import net from "node:net";
import process from "node:process";

const ports = process.argv.slice(2).map(Number);
const servers = [];

await Promise.all(
    ports.map(
        (port) =>
            new Promise((resolve, reject) => {
                const server = net.createServer((socket) => {
                    socket.on("error", () => socket.destroy());
                    socket.pipe(socket);
                });
                server.once("error", reject);
                server.listen({ port, host: "::", ipv6Only: false }, resolve);
                servers.push(server);
            }),
    ),
);
process.stdout.write("ready\n");

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
process.stdin.on("close", () => process.exit(0));
