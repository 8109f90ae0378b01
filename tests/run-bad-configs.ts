// Child process for tests/config.test.ts: runs the program under mocks once per config
// read from stdin (JSON array of StackConfigInput) and prints, per config, the error it
// stopped with and the resource types registered before that. A failed program leaves
// the Stack's own promises rejected (as under the real language host, which reports and
// exits); this dedicated process absorbs those echoes so they cannot leak into tests.
import { buildGraph, StackConfigInput } from "../tools/graph";

process.on("unhandledRejection", () => undefined);

async function main(): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const { stack, configs } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { stack: string; configs: StackConfigInput[] };
    const results: { error: string | null; registered: string[] }[] = [];
    for (const config of configs) {
        let registered: string[] = [];
        let error: string | null = null;
        try {
            await buildGraph(stack, config, (types) => (registered = types));
        } catch (e) {
            error = e instanceof Error ? e.message : String(e);
        }
        // Let the failed run's pending RPCs settle before the next run replaces the mocks.
        await new Promise((resolve) => setTimeout(resolve, 20));
        results.push({ error, registered });
    }
    process.stdout.write(JSON.stringify(results));
}

main().catch((e: unknown) => {
    process.stderr.write(String(e));
    process.exit(1);
});
