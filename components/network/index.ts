export * from "./networks";
