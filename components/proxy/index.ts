export * from "./proxy";
export * from "./caddyfile";
export * from "./upstreams";
