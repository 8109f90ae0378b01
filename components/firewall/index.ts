export * from "./firewall";
