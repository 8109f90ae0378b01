export * from "./app";
export * from "./env";
