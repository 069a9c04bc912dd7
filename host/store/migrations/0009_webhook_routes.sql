-- Webhook paths are one namespace on a server (`/webhook/{path}`): each
-- method and path belongs to the workflow that first activated it, in
-- whichever tenant, so another tenant activating the same path is refused
-- (409) rather than taking over its deliveries. The primary key is the
-- arbiter, also between API processes racing on one database. A claim
-- outlives a deactivation (the sender may still be sending), and is given
-- up when its workflow activates a version without that path.
CREATE TABLE webhook_routes (
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    workflow_id TEXT NOT NULL,
    claimed_at BIGINT NOT NULL,
    PRIMARY KEY (method, path)
);
CREATE INDEX webhook_routes_workflow ON webhook_routes (tenant_id, workflow_id);
