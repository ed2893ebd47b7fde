-- An origin (scheme://host[:port]: a Mastodon instance, a PDS, a webhook receiver) that answered
-- 429 is throttled for every site in the database, on every host: its deliveries wait until
-- `until` (the database's clock: clock_timestamp() plus what the server asked), none counted
-- as an attempt. One row per origin, only ever moved later while it lasts; `site` is the site
-- whose delivery was told (for operators), `told_at` when. Rows over for a day are deleted by
-- the next write. Not per site: the limit is the server's, whoever sends.
CREATE TABLE throttles (
    origin TEXT PRIMARY KEY,
    until TIMESTAMPTZ NOT NULL,
    site TEXT NOT NULL,
    told_at TIMESTAMPTZ NOT NULL
);
