/** Every environment variable the stack gives the app containers, for the docs and the tests. */
export interface EnvVarDoc {
    name: string;
    service: "backend" | "frontend";
    secret: boolean;
    description: string;
}

export const APP_ENV_VARS: readonly EnvVarDoc[] = [
    { name: "NODE_ENV", service: "backend", secret: false, description: "Always `production`." },
    { name: "PORT", service: "backend", secret: false, description: "Listening port, from backendPort (default 4000)." },
    { name: "DATABASE_URL", service: "backend", secret: true, description: "postgresql:// URL of the app role through PgBouncer (transaction pooling): use for queries." },
    { name: "DIRECT_DATABASE_URL", service: "backend", secret: true, description: "postgresql:// URL of the app role straight to Postgres: use for schema migrations and session features." },
    { name: "DB_POOL_SIZE", service: "backend", secret: false, description: "Size of the app's own pool, equal to poolerDefaultPoolSize." },
    { name: "SUPERTOKENS_CONNECTION_URI", service: "backend", secret: false, description: "http://supertokens:3567, the self-hosted core on the internal network." },
    { name: "SUPERTOKENS_API_KEY", service: "backend", secret: true, description: "API key of the core (generated, 64 hex characters)." },
    { name: "API_DOMAIN", service: "backend", secret: false, description: "https://<apiHost>, for SuperTokens' appInfo." },
    { name: "WEBSITE_DOMAIN", service: "backend", secret: false, description: "https://<frontendHost>, for SuperTokens' appInfo and CORS." },
    { name: "SENTRY_DSN", service: "backend", secret: true, description: "Only when backendSentryDsn is set." },
    { name: "NODE_ENV", service: "frontend", secret: false, description: "Always `production`." },
    { name: "PORT", service: "frontend", secret: false, description: "Listening port, from frontendPort (default 3000)." },
    { name: "API_URL", service: "frontend", secret: false, description: "https://<apiHost>, where the browser calls the backend." },
];
