// npm run graph -- <stack>: the stack's whole resource graph as JSON, offline.
import { buildGraph, printable } from "./graph";

async function main(): Promise<void> {
    const stack = process.argv[2];
    if (!stack) {
        process.stderr.write("usage: npm run graph -- <stack>   (e.g. staging, prod)\n");
        process.exit(2);
    }
    const graph = await buildGraph(stack);
    process.stdout.write(`${JSON.stringify(printable(graph), null, 2)}\n`);
}

main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
});
