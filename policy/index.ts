// byte-runner-infra's policy pack: the system's promises, checked by the engine in every
// `pulumi preview --policy-pack policy` (tools/preview.sh, the pull-request workflow, the
// end-to-end suite). The rules themselves are in rules.ts; INFRASTRUCTURE.md (Policy pack)
// lists them with why they exist.
import { PolicyPack, PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { rawProps } from "./raw";
import { RULES, Rule, RuleResource } from "./rules";

const urns = (resources: PolicyResource[]) => resources.map((r) => r.urn);

function stackResource(r: PolicyResource): RuleResource {
    return {
        urn: r.urn,
        type: r.type,
        props: rawProps(r.props),
        parent: r.parent?.urn,
        dependencies: urns(r.dependencies),
        propertyDependencies: Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, deps]) => [k, urns(deps)])),
    };
}

function policy(rule: Rule): ResourceValidationPolicy | StackValidationPolicy {
    const common = { name: rule.name, description: `${rule.description} Why: ${rule.why}`, enforcementLevel: rule.enforcement };
    if (rule.scope === "resource") {
        return {
            ...common,
            validateResource: (args, report) => {
                const resource = { urn: args.urn, type: args.type, props: rawProps(args.props), parent: args.opts.parent };
                for (const v of rule.check([resource])) report(v.message, v.urn);
            },
        };
    }
    return {
        ...common,
        validateStack: (args, report) => {
            for (const v of rule.check(args.resources.map(stackResource))) report(v.message, v.urn);
        },
    };
}

new PolicyPack("byte-runner-infra", { policies: RULES.map(policy) });
