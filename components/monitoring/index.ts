export * from "./alertmanager-config";
export * from "./monitoring";
export * from "./prometheus-config";
