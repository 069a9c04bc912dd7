-- Tenants, keys and policies (the security issue). Keys get a name, scopes
-- (space-separated action names or `prefix.*`; `*` is all the role allows)
-- and an expiry. A session names the key it was made from, so revoking the
-- key ends its sessions.
ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT '*';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE sessions ADD COLUMN key_id TEXT NOT NULL DEFAULT '';

-- A tenant's own Cedar policies, one document, beside the defaults.
CREATE TABLE tenant_policies (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    text TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The audit log: one chain over every tenant. Each entry's mac is an HMAC
-- (key outside the database) over its fields and the previous entry's mac.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    tenant_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    source TEXT NOT NULL,
    before_hash TEXT,
    after_hash TEXT,
    mac TEXT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq);
