// The resource properties as the engine sent them. @pulumi/policy unwraps secrets before a
// policy sees them (a secret and a plain value look the same), and a policy cannot tell a
// value that is unknown at preview without tripping over it; the no-plain-secrets rule needs
// both. So the pack keeps the wire form of every property set @pulumi/policy deserializes
// (its deserializeProperties, which its server calls through the module's exports) and finds
// it again from the proxy a policy receives. Written against @pulumi/policy 1.21.0 (pinned
// in package.json); it fails loudly, never silently, if those internals change.
/* eslint-disable @typescript-eslint/no-require-imports */
const deserialize = require("@pulumi/policy/deserialize") as {
    deserializeProperties: (struct: { toJavaScript(): Record<string, unknown> }, proxySecrets: boolean) => object;
};
const proxy = require("@pulumi/policy/proxy") as { getSpecialProxyTarget?: string };
/* eslint-enable @typescript-eslint/no-require-imports */

const wireForm = new WeakMap<object, Record<string, unknown>>();
const original = deserialize.deserializeProperties;
const targetKey = proxy.getSpecialProxyTarget ?? "";
if (typeof original !== "function" || targetKey === "") {
    throw new Error("policy/raw.ts: @pulumi/policy no longer has deserializeProperties or getSpecialProxyTarget; the pack needs updating for this version");
}
deserialize.deserializeProperties = (struct, proxySecrets) => {
    const props = original(struct, proxySecrets);
    wireForm.set(props, struct.toJavaScript());
    return props;
};

/** The wire form (secrets as signature objects, unknowns as the sentinel) of the props a policy received. */
export function rawProps(props: object): Record<string, unknown> {
    const target = (props as Record<string, unknown>)[targetKey] as object | undefined;
    const raw = target === undefined ? undefined : wireForm.get(target);
    if (raw === undefined) throw new Error("policy/raw.ts: these properties did not come through @pulumi/policy's deserializeProperties; the pack needs updating for this version");
    return raw;
}
