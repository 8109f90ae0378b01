export * from "./postgres";
export * from "./settings";
