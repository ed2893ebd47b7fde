-- The delivery ledger, as the SQLite store keeps it (syndicate/deliver/sqlite_store.py), with a
-- `site` column first in every key: many sites share one database, and every query names its site.
-- Times are timestamptz (UTC in and out). Applied once, in a transaction, by
-- syndicate.deliver.postgres_store.migrate under an advisory lock; recorded in schema_version.

-- One row per site: the anchor of its delivery lock (n: the advisory lock's key, unique per site)
-- and its fencing token (raised by every process that takes the lock; a write by a process whose
-- token is no longer the site's is refused).
CREATE TABLE sites (
    site TEXT PRIMARY KEY,
    n BIGSERIAL UNIQUE,
    lock_token BIGINT NOT NULL DEFAULT 0,
    lock_pid INTEGER,
    lock_host TEXT,
    locked_at TIMESTAMPTZ
);

CREATE TABLE meta (
    site TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (site, key)
);

CREATE TABLE targets (
    site TEXT NOT NULL,
    name TEXT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    disabled_reason TEXT,
    PRIMARY KEY (site, name)
);

CREATE TABLE posts (
    site TEXT NOT NULL,
    post_id TEXT NOT NULL,
    source TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    revision TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    published TIMESTAMPTZ,
    social TEXT,
    leaving TEXT,
    PRIMARY KEY (site, post_id)
);

CREATE TABLE deliveries (
    site TEXT NOT NULL,
    id TEXT NOT NULL,
    post_id TEXT NOT NULL,
    target TEXT NOT NULL,
    event TEXT NOT NULL,
    revision TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    last_error TEXT,
    remote_id TEXT,
    remote_url TEXT,
    updated_at TIMESTAMPTZ,
    key_seq BIGINT,
    PRIMARY KEY (site, id),
    UNIQUE (site, post_id, target, event, revision)
);
-- Two deliveries of one target never share a remote key (a Bluesky record key is made from key_seq).
CREATE UNIQUE INDEX deliveries_key ON deliveries (site, target, key_seq) WHERE key_seq IS NOT NULL;
CREATE INDEX deliveries_open ON deliveries (site, state, next_attempt_at);

CREATE TABLE attempts (
    site TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    n INTEGER NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    digest TEXT NOT NULL,
    finished_at TIMESTAMPTZ,
    outcome TEXT,
    detail TEXT,
    text TEXT,
    PRIMARY KEY (site, delivery_id, n)
);

-- The last key_seq given per (site, target): raised in the transaction that gives a key, so two
-- processes giving keys at once wait for each other on this row and never give one twice.
CREATE TABLE key_seqs (
    site TEXT NOT NULL,
    target TEXT NOT NULL,
    last BIGINT NOT NULL,
    PRIMARY KEY (site, target)
);
