// Pure (no Pulumi import): config.ts validates CPU limits with it.

/**
 * docker's --cpus as the docker provider writes it back into state after reading the
 * container (NanoCPUs as a decimal: 1 -> "1.0", 0.5 -> "0.5", 1.25 -> "1.25"). Passing the
 * same spelling keeps a second `pulumi up` from replacing every container over "1" vs "1.0".
 */
export function dockerCpus(cpus: number): string {
    const nano = Math.round(cpus * 1e9);
    const whole = Math.floor(nano / 1e9);
    const fraction = String(nano % 1e9).padStart(9, "0");
    const text = `${whole}.${fraction}`;
    // The provider's rule, kept as it is: exactly nine zeros means a "round" value, one decimal.
    if ((text.match(/0/g) ?? []).length === 9) return (Math.round(nano / 1e8) / 10).toFixed(1);
    return text.replace(/0+$/, "");
}

/** Whether a CPU limit survives the docker provider's read-back unchanged (0.05 would become 0.1, 0.01 no limit). */
export function cpusStable(cpus: number): boolean {
    return Number(dockerCpus(cpus)) === cpus;
}
