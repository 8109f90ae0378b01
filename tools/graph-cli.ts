// npm run graph -- <stack>: the stack's whole resource graph as JSON, offline.
// npm run graph -- --secrets-to-fill <stack>: the secret keys its settings call for that its
// committed file does not hold, one per line (tools/preview.sh sets placeholders for them).
import { buildGraph, committedConfig, printable } from "./graph";

async function main(): Promise<void> {
    if (process.argv[2] === "--secrets-to-fill" && process.argv[3]) {
        for (const key of committedConfig(process.argv[3]).filled) process.stdout.write(`${key}\n`);
        return;
    }
    const stack = process.argv[2];
    if (!stack) {
        process.stderr.write("usage: npm run graph -- <stack>   (e.g. staging, prod)\n       npm run graph -- --secrets-to-fill <stack>\n");
        process.exit(2);
    }
    const graph = await buildGraph(stack);
    process.stdout.write(`${JSON.stringify(printable(graph), null, 2)}\n`);
}

main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
});
