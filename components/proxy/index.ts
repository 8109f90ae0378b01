export * from "./proxy";
export * from "./caddyfile";
