import * as crypto from "node:crypto";
import * as path from "node:path";

/** Root of the repository (components/ and tools/ sit under it). */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export function sha256(text: string): string {
    return crypto.createHash("sha256").update(text).digest("hex");
}

/** Quotes a string for a POSIX shell command line (single quotes). */
export function shellQuote(value: string): string {
    return `'${value.replace(/'/g, `'"'"'`)}'`;
}
