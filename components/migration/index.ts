export * from "./migration";
