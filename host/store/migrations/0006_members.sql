-- Members: people who sign in with the OpenID Connect provider and act with
-- a role in a tenant. `identity` is a lower-cased email the provider
-- verified, or `sub:` and the provider's subject. Each member owns an API
-- key of its role whose secret nobody ever saw; its browser sessions name
-- that key, so removing the member (which revokes the key) ends them.
CREATE TABLE members (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    identity TEXT NOT NULL,
    role TEXT NOT NULL,
    key_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, identity)
);
CREATE INDEX members_identity ON members (identity);

-- Sign-ins begun and not yet finished: the SHA-256 of the browser cookie's
-- token, the `state` and `nonce` sent to the provider, the PKCE verifier,
-- where to go after, and the tenant asked for. Each is used once and
-- expires in minutes.
CREATE TABLE sign_in_attempts (
    hash TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    verifier TEXT NOT NULL,
    next_path TEXT NOT NULL,
    tenant_id TEXT,
    expires_at BIGINT NOT NULL
);
