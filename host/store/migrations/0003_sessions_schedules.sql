-- Browser sessions: the SHA-256 of the cookie's token, exchanged for an API
-- key at sign-in; they expire.
CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    role TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The last tick each schedule trigger fired, so a restart neither fires a
-- tick twice nor forgets the ones it missed.
CREATE TABLE schedule_ticks (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    workflow_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    last_tick BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, node_id)
);
