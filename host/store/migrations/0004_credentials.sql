-- The credential vault (host/vault). Each tenant has one data key, stored
-- only wrapped (encrypted) by the master key named by master_key_id; the
-- master key itself is never stored here. Credential values are AES-256-GCM
-- ciphertexts under the tenant's data key named by key_id. Binary values are
-- base64 text: nonce, then ciphertext and tag.
CREATE TABLE vault_data_keys (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    id TEXT NOT NULL UNIQUE,
    master_key_id TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    rewrapped_at BIGINT
);

CREATE TABLE credentials (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    key_id TEXT NOT NULL,
    ciphertext TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
