export * from "./pooler";
export * from "./pgbouncer";
