-- The master key every tenant's data key is wrapped under, as the last
-- rotation set it (one row). Each process reads it before it wraps a new
-- tenant's data key, so a process still holding a retired master key (an
-- API replica that missed the rotation) refuses to wrap with it.
CREATE TABLE vault_master (
    id INTEGER PRIMARY KEY,
    master_key_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);
