-- A Bluesky session per account (its PDS and handle), shared by every site and host that posts
-- as it: createSession is made once and the session refreshed after, never made again per
-- process or run (the network allows about 100 a day per handle). `sealed` is the session
-- encrypted by syndicate/deliver/sessions.py (AES-GCM, a key derived from the app password):
-- no token is ever here in clear. `expires` is the access token's expiry (not secret), so a
-- host refreshes before it uses an expired one.
CREATE TABLE sessions (
    service TEXT NOT NULL,
    handle TEXT NOT NULL,
    sealed BYTEA NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    saved_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (service, handle)
);
