export * from "./supertokens";
