-- The first schema. One file serves SQLite and PostgreSQL: ids are text,
-- numbers BIGINT, times milliseconds since the Unix epoch, documents JSON
-- text. Every table with user data carries tenant_id.

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

INSERT INTO tenants (id, name, created_at) VALUES ('default', 'Default', 0);

CREATE TABLE workflows (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    latest_version BIGINT NOT NULL,
    active_version BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE workflow_versions (
    tenant_id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    definition TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, version),
    FOREIGN KEY (tenant_id, workflow_id) REFERENCES workflows (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE executions (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    id TEXT NOT NULL,
    workflow_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    status TEXT NOT NULL,
    sequential BIGINT NOT NULL,
    next_seq BIGINT NOT NULL,
    parent_execution TEXT,
    parent_seq BIGINT,
    error TEXT,
    result TEXT,
    response TEXT,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX executions_by_workflow ON executions (tenant_id, workflow_id, created_at);
CREATE INDEX executions_by_status ON executions (tenant_id, status, created_at);

-- The ready queue: a step is claimable when status = 'ready' (or 'waiting'
-- with a due time) and due_at has passed.
CREATE TABLE steps (
    tenant_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    iteration BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    attempt BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    due_at BIGINT,
    lease_owner TEXT,
    lease_expires BIGINT,
    inputs_expected BIGINT NOT NULL,
    done_order BIGINT,
    error TEXT,
    duration_us BIGINT NOT NULL DEFAULT 0,
    fuel BIGINT NOT NULL DEFAULT 0,
    peak_memory_bytes BIGINT NOT NULL DEFAULT 0,
    egress_requests BIGINT NOT NULL DEFAULT 0,
    egress_bytes BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (tenant_id, execution_id, seq),
    FOREIGN KEY (tenant_id, execution_id) REFERENCES executions (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX steps_ready ON steps (due_at) WHERE status IN ('ready', 'waiting');
CREATE INDEX steps_leased ON steps (lease_expires) WHERE status = 'running';
CREATE INDEX steps_by_execution ON steps (tenant_id, execution_id, status);

-- Items and node state, kept apart from the hot rows above.
CREATE TABLE step_payloads (
    tenant_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    state TEXT,
    resume TEXT,
    logs TEXT,
    PRIMARY KEY (tenant_id, execution_id, seq),
    FOREIGN KEY (tenant_id, execution_id, seq) REFERENCES steps (tenant_id, execution_id, seq) ON DELETE CASCADE
);

-- Resume tokens of parked steps (Wait "until resumed").
CREATE TABLE timers (
    token TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    FOREIGN KEY (tenant_id, execution_id) REFERENCES executions (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE dead_letters (
    tenant_id TEXT NOT NULL,
    id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    node_id TEXT NOT NULL,
    error TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    replayed_at BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, execution_id) REFERENCES executions (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE variables (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
