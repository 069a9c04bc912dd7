-- Node state (wit/node.wit `state`): small values a node keeps across
-- runs, per workflow and node, written with the result of the step that
-- set them. Values are hex-encoded bytes.
CREATE TABLE node_state (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    workflow_id TEXT NOT NULL,
    node_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, node_id, key)
);
