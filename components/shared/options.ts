import * as pulumi from "@pulumi/pulumi";

/**
 * Options for a component's children: parented to it, and waiting for everything the
 * component was told to wait for. Pulumi does not pass a component's `dependsOn` on
 * to its children, so without this a container could start before what it needs.
 */
export function childOf(
    parent: pulumi.ComponentResource,
    opts: pulumi.ComponentResourceOptions | undefined,
    extra: pulumi.Resource[] = [],
): pulumi.CustomResourceOptions {
    const inherited = opts?.dependsOn;
    const list = inherited === undefined ? [] : Array.isArray(inherited) ? inherited : [inherited];
    const dependsOn = [...(list as pulumi.Input<pulumi.Resource>[]), ...extra];
    return dependsOn.length > 0 ? { parent, dependsOn } : { parent };
}
