// The one rule for tests that need something this machine may lack (a tool, the Pulumi
// engine, a provider plugin): they fail and name it, unless BYTE_RUNNER_ALLOW_SKIP=1 opts in
// to skipping, which is then said loudly. tools/test.sh applies the same rule to its phases
// (tools/phases.sh, skip_allowed).

/** The environment variable that opts in to skipping; nothing else does. */
export const ALLOW_SKIP_VARIABLE = "BYTE_RUNNER_ALLOW_SKIP";

export function skipAllowed(env: NodeJS.ProcessEnv = process.env): boolean {
    return env[ALLOW_SKIP_VARIABLE] === "1";
}

/**
 * The `skip` option of a test that needs what `missing` names (false or undefined when
 * nothing is missing). With the opt-in it returns the reason, marked as an allowed skip,
 * and says so on stderr; without it, it returns undefined: the test runs, and the caller
 * makes it fail with `missing` as the message (see failUnlessSkipped).
 */
export function allowedSkip(missing: string | false | undefined, env: NodeJS.ProcessEnv = process.env, warn: (line: string) => void = console.error): string | undefined {
    if (!missing || !skipAllowed(env)) return undefined;
    const reason = `SKIPPED because ${ALLOW_SKIP_VARIABLE}=1: ${missing}`;
    warn(`!!!!! ${reason}\n!!!!! this run does NOT prove what the skipped tests check`);
    return reason;
}

/** The error a test raises for something missing when skipping is not allowed. */
export function missingError(missing: string): Error {
    return new Error(`${missing}. This fails the run; to skip the tests that need it on purpose instead, set ${ALLOW_SKIP_VARIABLE}=1`);
}
