// TCP probes run inside the "outside" namespace.
//   scan '<json [{from, host, port}]>'  prints a JSON array of "open" | "refused" | "filtered" | "error:CODE"
//   session FROM HOST PORT             connects, prints "connected", sends a keepalive line every
//                                      250 ms and each stdin line, prints "echo:<line>" for what comes back
import net from "node:net";
import process from "node:process";
import { clearTimeout, setInterval, setTimeout } from "node:timers";
import readline from "node:readline";

const PROBE_TIMEOUT_MS = 1000;

function probe({ from, host, port }) {
    return new Promise((resolve) => {
        const socket = net.connect({ host, port, localAddress: from });
        const finish = (result) => {
            clearTimeout(timer);
            socket.destroy();
            resolve(result);
        };
        // A dropped SYN gets no answer at all: that is what the firewall's drop looks like.
        const timer = setTimeout(() => finish("filtered"), PROBE_TIMEOUT_MS);
        socket.once("connect", () => finish("open"));
        socket.once("error", (error) => finish(error.code === "ECONNREFUSED" ? "refused" : `error:${error.code}`));
    });
}

const [mode, ...args] = process.argv.slice(2);
if (mode === "scan") {
    const results = await Promise.all(JSON.parse(args[0]).map(probe));
    process.stdout.write(`${JSON.stringify(results)}\n`);
} else if (mode === "session") {
    const [from, host, port] = args;
    const socket = net.connect({ host, port: Number(port), localAddress: from });
    socket.setEncoding("utf8");
    socket.once("connect", () => {
        process.stdout.write("connected\n");
        // Like ssh's ServerAliveInterval: a live session exchanges packets now and then.
        setInterval(() => socket.write("keepalive\n"), 250).unref();
    });
    socket.on("data", (data) => {
        for (const line of data.split("\n").filter(Boolean)) process.stdout.write(`echo:${line}\n`);
    });
    socket.on("error", (error) => {
        process.stdout.write(`error:${error.code}\n`);
        process.exit(1);
    });
    const lines = readline.createInterface({ input: process.stdin });
    lines.on("line", (line) => socket.write(`${line}\n`));
    lines.on("close", () => {
        socket.destroy();
        process.exit(0);
    });
} else {
    process.stderr.write(`usage: tcp-probe.mjs scan JSON | session FROM HOST PORT\n`);
    process.exit(2);
}
