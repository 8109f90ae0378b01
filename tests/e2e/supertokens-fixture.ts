// SuperTokens-shaped data for the migration tests: no core image can be pulled here, so
// these are written from the core's PostgreSQL plugin (table names, keys, columns).
// A few of the core's tables (the PostgreSQL plugin's names and keys): what a fresh core
// creates for itself, and what the managed core holds.
export const CORE_TABLES = `
    CREATE TABLE key_value (app_id varchar(64) DEFAULT 'public', tenant_id varchar(64) DEFAULT 'public', name varchar(128) NOT NULL,
        value text, created_at_time bigint, PRIMARY KEY (app_id, tenant_id, name));
    CREATE TABLE all_auth_recipe_users (app_id varchar(64) DEFAULT 'public', tenant_id varchar(64) DEFAULT 'public', user_id char(36) NOT NULL,
        primary_or_recipe_user_id char(36) NOT NULL, is_linked_or_is_a_primary_user boolean NOT NULL DEFAULT false, recipe_id varchar(128) NOT NULL,
        time_joined bigint NOT NULL, primary_or_recipe_user_time_joined bigint NOT NULL, PRIMARY KEY (app_id, tenant_id, user_id));
    CREATE TABLE emailpassword_users (app_id varchar(64) DEFAULT 'public', user_id char(36) NOT NULL, email varchar(256) NOT NULL,
        password_hash varchar(256) NOT NULL, time_joined bigint NOT NULL, PRIMARY KEY (app_id, user_id));
    CREATE TABLE session_access_token_signing_keys (app_id varchar(64) DEFAULT 'public', created_at_time bigint NOT NULL, value text,
        PRIMARY KEY (app_id, created_at_time));`;
export const MANAGED_CORE_DATA = `
    INSERT INTO all_auth_recipe_users (user_id, primary_or_recipe_user_id, recipe_id, time_joined, primary_or_recipe_user_time_joined)
        SELECT u, u, 'emailpassword', 1700000000000 + g, 1700000000000 + g FROM generate_series(1, 300) g, LATERAL (SELECT md5(g::text)::uuid::text AS u) x;
    INSERT INTO emailpassword_users (user_id, email, password_hash, time_joined)
        SELECT md5(g::text)::uuid::text, 'user' || g || '@example.com', '$2a$11$' || left(encode(sha256(g::text::bytea), 'base64'), 53), 1700000000000 + g
        FROM generate_series(1, 300) g;
    INSERT INTO key_value (name, value, created_at_time) VALUES ('refresh_token_key', 'managed-core-refresh-key', 1700000000000);
    INSERT INTO session_access_token_signing_keys (created_at_time, value) VALUES (1700000000000, 'managed-core-signing-key');`;

/** Every user's id, e-mail and password hash, in one comparable string. */
export const PASSWORD_HASHES = "select string_agg(user_id || ' ' || email || ' ' || password_hash, ',' order by user_id) from emailpassword_users";
