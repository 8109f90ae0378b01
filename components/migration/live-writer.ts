// A bounded writer that plays the app during a migration: inserts, updates and deletes on
// one table, one at a time through a psql session, each with its id and the moment the
// server acknowledged it. It survives lost connections (it opens another) and can be
// pointed at another database (the app repointed after cutover). What it records answers
// "was any acknowledged write lost?" and "how long could nobody write?".
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";

export interface WriterTarget {
    port: number;
    database: string;
    user: string;
    password: string;
}

/** The table the writer owns; create it in the source's app schema before sync. */
export const LIVE_TABLE_SQL = `CREATE TABLE public.live_writes (
    id bigserial PRIMARY KEY,
    value bigint NOT NULL,
    written_at timestamptz NOT NULL DEFAULT clock_timestamp()
)`;

/** The writer's table in the source's app database, and its role (LOGIN, DML on that table only). */
export function addLiveWriterTable(source: { psql(database: string, sql: string): string }, role: string, password: string): void {
    source.psql("app", LIVE_TABLE_SQL);
    source.psql("postgres", `CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    source.psql("app", `GRANT USAGE ON SCHEMA public TO ${role}; GRANT ALL ON public.live_writes, public.live_writes_id_seq TO ${role}`);
}

type Kind = "insert" | "update" | "delete";

export interface WriterReport {
    /** Operations acknowledged by a server. */
    acknowledged: number;
    /** Operations the server refused with an error (read-only, terminated...): visible to the app. */
    failed: number;
    /** The longest time between two acknowledgements, in ms: the write freeze the app saw. */
    longestGapMs: number;
    /** When that gap started and ended (ms since the epoch). */
    gapStartedAt: number;
    gapEndedAt: number;
    /** Each row's value as of its last acknowledged write; deleted rows map to null. */
    expected: Map<string, number | null>;
    /** Rows whose last write was sent but neither acknowledged nor refused (connection lost mid-way). */
    uncertain: Set<string>;
    /** A few of the error messages, as the app would have seen them. */
    errorSamples: string[];
}

export class LiveWriter {
    private target: WriterTarget;
    private stopped = false;
    private running: Promise<void> | undefined;
    private session: ChildProcessWithoutNullStreams | undefined;
    private pending: ((outcome: { ack?: string; error?: string; lost?: boolean }) => void) | undefined;
    private stdoutBuffer = "";
    private stderrBuffer = "";
    private readonly live: string[] = [];
    private lastAckAt = 0;
    readonly report: WriterReport = {
        acknowledged: 0,
        failed: 0,
        longestGapMs: 0,
        gapStartedAt: 0,
        gapEndedAt: 0,
        expected: new Map(),
        uncertain: new Set(),
        errorSamples: [],
    };

    constructor(
        target: WriterTarget,
        private readonly pauseMs = 5,
    ) {
        this.target = target;
    }

    start(): void {
        this.running = this.loop();
    }

    /** The app is repointed: the next write goes to the other database. */
    switchTo(target: WriterTarget): void {
        this.target = target;
        this.session?.kill();
    }

    async stop(): Promise<WriterReport> {
        this.stopped = true;
        await this.running;
        this.session?.kill();
        return this.report;
    }

    private async loop(): Promise<void> {
        let counter = 0;
        while (!this.stopped) {
            counter += 1;
            const kind: Kind = this.live.length < 20 || counter % 3 === 0 ? "insert" : counter % 3 === 1 ? "update" : "delete";
            const index = Math.floor(Math.random() * this.live.length);
            const id = kind === "insert" ? undefined : this.live[index];
            const sql =
                kind === "insert"
                    ? `INSERT INTO public.live_writes (value) VALUES (${counter}) RETURNING id`
                    : kind === "update"
                      ? `UPDATE public.live_writes SET value = ${counter} WHERE id = ${id} RETURNING id`
                      : `DELETE FROM public.live_writes WHERE id = ${id} RETURNING id`;
            const outcome = await this.run(`WITH w AS (${sql}) SELECT 'ack ' || id FROM w;`);
            if (outcome.ack !== undefined) {
                const now = Date.now();
                if (this.lastAckAt > 0 && now - this.lastAckAt > this.report.longestGapMs) {
                    this.report.longestGapMs = now - this.lastAckAt;
                    this.report.gapStartedAt = this.lastAckAt;
                    this.report.gapEndedAt = now;
                }
                this.lastAckAt = now;
                this.report.acknowledged += 1;
                const row = outcome.ack;
                if (kind === "insert") {
                    this.live.push(row);
                    this.report.expected.set(row, counter);
                } else if (kind === "update") {
                    this.report.expected.set(row, counter);
                } else {
                    this.live.splice(index, 1);
                    this.report.expected.set(row, null);
                }
                this.report.uncertain.delete(row);
            } else if (outcome.error !== undefined) {
                this.report.failed += 1;
                if (this.report.errorSamples.length < 20) this.report.errorSamples.push(outcome.error);
                await sleep(50);
            } else {
                // Lost mid-way: the write may or may not have happened.
                if (id !== undefined) this.report.uncertain.add(id);
                await sleep(50);
            }
            if (this.pauseMs > 0) await sleep(this.pauseMs);
        }
    }

    private run(statement: string): Promise<{ ack?: string; error?: string; lost?: boolean }> {
        const session = this.session ?? this.open();
        return new Promise((resolve) => {
            this.pending = resolve;
            session.stdin.write(`${statement}\n\\echo done\n`);
        });
    }

    private open(): ChildProcessWithoutNullStreams {
        const { port, database, user, password } = this.target;
        const session = spawn("psql", ["-X", "-q", "-At", "-h", "127.0.0.1", "-p", String(port), "-U", user, "-d", database], {
            env: { ...process.env, PGPASSWORD: password, PGCONNECT_TIMEOUT: "3", PGAPPNAME: "live-writer" },
        });
        this.session = session;
        this.stdoutBuffer = "";
        this.stderrBuffer = "";
        let ack: string | undefined;
        session.stdout.on("data", (chunk: Buffer) => {
            this.stdoutBuffer += chunk.toString();
            let newline;
            while ((newline = this.stdoutBuffer.indexOf("\n")) >= 0) {
                const line = this.stdoutBuffer.slice(0, newline);
                this.stdoutBuffer = this.stdoutBuffer.slice(newline + 1);
                if (line.startsWith("ack ")) ack = line.slice(4);
                if (line === "done") {
                    const error = this.stderrBuffer.trim();
                    this.stderrBuffer = "";
                    const resolve = this.pending;
                    this.pending = undefined;
                    resolve?.(ack !== undefined ? { ack } : error ? { error } : { error: "no row (the row is gone)" });
                    ack = undefined;
                }
            }
        });
        session.stderr.on("data", (chunk: Buffer) => (this.stderrBuffer += chunk.toString()));
        session.stdin.on("error", () => undefined);
        session.on("close", () => {
            if (this.session === session) this.session = undefined;
            const resolve = this.pending;
            this.pending = undefined;
            const error = this.stderrBuffer.trim();
            // An error before the connection went (e.g. it could not connect) was seen by the app.
            resolve?.(error && !/terminat|closed the connection|connection to server was lost/i.test(error) ? { error } : { lost: true });
        });
        return session;
    }
}

/** Compares the target's live_writes with what the writer had acknowledged: the ids lost. */
export function lostWrites(report: WriterReport, targetRows: Map<string, number>): string[] {
    const lost: string[] = [];
    for (const [id, value] of report.expected) {
        if (report.uncertain.has(id)) continue;
        const actual = targetRows.get(id);
        if (value === null ? actual !== undefined : actual !== value) lost.push(`${id}: expected ${value}, found ${actual ?? "no row"}`);
    }
    return lost;
}
