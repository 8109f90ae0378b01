export * from "./dns";
export * from "./records";
