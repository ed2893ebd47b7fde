"""PostgreSQL: NNNN_name.sql, applied in order by :func:`syndicate.deliver.postgres_store.migrate`."""
