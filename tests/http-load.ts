// A bounded load of HTTPS requests through one address (Caddy), for the deploy tests and
// bench:deploy: `concurrency` clients, each sending its next request when the last one is
// answered, over keep-alive connections, as browsers do, until stopped or `maxSeconds`.
//
// A failed request is a non-2xx answer, a connection error or a timeout. One case is not a
// failure, as HTTP itself says (RFC 9110, 9.2.2) and browsers and proxies do: a keep-alive
// connection the server closed just as the client reused it, before any byte of an answer (a
// graceful reload closes idle connections). The request, idempotent, is sent again once on a
// new connection; how many were is counted and printed (`resentOnClosedKeepAlive`), and a
// second failure is a failure.
import * as https from "node:https";

export interface LoadOptions {
    /** Where the requests go (Caddy's HTTPS port on loopback). */
    address: { host: string; port: number };
    /** Host header and SNI. */
    hostname: string;
    path: string;
    /** The CA that signed Caddy's certificate. */
    ca: string | Buffer;
    concurrency: number;
    /** The load stops by itself after this long. */
    maxSeconds: number;
    /** A response header that names what answered (the stand-ins' release). */
    releaseHeader?: string;
}

export interface Answer {
    /** ms since the load started. */
    at: number;
    ms: number;
    status: number;
    release: string;
}

export interface LoadResult {
    answers: Answer[];
    /** "<ms> <what>" for every failed request. */
    failed: string[];
    resentOnClosedKeepAlive: number;
}

export interface Load {
    stop(): Promise<LoadResult>;
}

const REQUEST_TIMEOUT_MS = 15_000;

export function startLoad(o: LoadOptions): Load {
    const agent = new https.Agent({ keepAlive: true, maxSockets: o.concurrency, ca: o.ca });
    const started = Date.now();
    const result: LoadResult = { answers: [], failed: [], resentOnClosedKeepAlive: 0 };
    let stopped = false;
    const deadline = setTimeout(() => (stopped = true), o.maxSeconds * 1000);

    const once = (): Promise<{ status: number; release: string }> =>
        new Promise((resolve, reject) => {
            const request = https.get(
                { host: o.address.host, port: o.address.port, servername: o.hostname, path: o.path, headers: { Host: o.hostname }, agent, timeout: REQUEST_TIMEOUT_MS },
                (response) => {
                    response.resume();
                    response.on("end", () => resolve({ status: response.statusCode ?? 0, release: String(response.headers[o.releaseHeader ?? ""] ?? "") }));
                    response.on("error", reject);
                },
            );
            request.on("timeout", () => request.destroy(new Error(`no answer in ${REQUEST_TIMEOUT_MS} ms`)));
            request.on("error", (error: NodeJS.ErrnoException) => {
                const resend = request.reusedSocket && (error.code === "ECONNRESET" || error.message === "socket hang up");
                reject(Object.assign(new Error(`${error.message} (${error.code ?? "no code"}, ${request.reusedSocket ? "reused" : "new"} connection)`), { resend }));
            });
        });

    const client = async () => {
        while (!stopped) {
            const begin = Date.now();
            try {
                let answer;
                try {
                    answer = await once();
                } catch (error) {
                    if (!(error as { resend?: boolean }).resend) throw error;
                    result.resentOnClosedKeepAlive++;
                    answer = await once();
                }
                result.answers.push({ at: begin - started, ms: Date.now() - begin, ...answer });
                if (answer.status < 200 || answer.status > 299) result.failed.push(`${begin - started} HTTP ${answer.status}`);
            } catch (error) {
                result.failed.push(`${begin - started} ${(error as Error).message}`);
            }
        }
    };
    const clients = Array.from({ length: o.concurrency }, client);
    return {
        async stop() {
            stopped = true;
            clearTimeout(deadline);
            await Promise.all(clients);
            agent.destroy();
            return result;
        },
    };
}

/** The p-th percentile (0-100) of some latencies in ms. */
export function percentile(values: number[], p: number): number {
    if (values.length === 0) return NaN;
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
