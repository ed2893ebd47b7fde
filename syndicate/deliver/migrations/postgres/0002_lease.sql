-- `syndicate run` on a PostgreSQL store holds its site by a *lease*, not a session lock: a row
-- with an expiry by the database's clock, renewed by the holder, which a standby takes once it
-- has expired (a session lock would stay with a paused holder whose connection lives). The
-- holder's pid and host are sites.lock_pid and lock_host (as for `publish`), taking the lease
-- raises sites.lock_token (the fencing token every write of the holder checks), and a random id
-- tells this holder from a later process with the same pid on the same host.
ALTER TABLE sites ADD COLUMN lease_id TEXT;
ALTER TABLE sites ADD COLUMN lease_expires TIMESTAMPTZ;
-- Raised by every write of a process that does not hold the site (`syndicate retry`,
-- `allow-deletions`): the lease holder reads it as it renews and then reads the ledger again
-- and runs a cycle (the SQLite daemon looks at the file's mtime instead).
ALTER TABLE sites ADD COLUMN nudges BIGINT NOT NULL DEFAULT 0;
