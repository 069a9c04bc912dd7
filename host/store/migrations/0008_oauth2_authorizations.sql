-- OAuth2 credentials being authorized (the authorization-code grant): the
-- SHA-256 of the `state` sent to the provider, the credential, the PKCE
-- verifier and the redirect URL. Kept here, not in one process, so the
-- provider may send the person back to any API replica; used once, and
-- expire in minutes.
CREATE TABLE oauth2_authorizations (
    state_hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    credential_id TEXT NOT NULL,
    verifier TEXT NOT NULL,
    redirect_url TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
