export * from "./origin-certificate";
