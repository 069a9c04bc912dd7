-- Per-tenant overrides of the server's limits (the platform owner sets
-- them); a NULL column takes the server's setting.
CREATE TABLE tenant_limits (
    tenant_id TEXT PRIMARY KEY REFERENCES tenants (id),
    requests_per_second BIGINT,
    running_executions BIGINT,
    steps_per_hour BIGINT,
    updated_at BIGINT NOT NULL
);
