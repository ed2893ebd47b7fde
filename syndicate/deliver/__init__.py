"""Delivering posts, exactly once: the shell around :mod:`syndicate.core.planning`.

publish    one run: lock → build → plan → record → preview | send → report
registry   a target's kind → its channel, and the secret it needs
secrets    secrets from the environment, and the redactor that keeps them out of messages
store      the ledger (SQLite behind the ``Store`` protocol) and its lock
ledger     which ledger this site published with (exit 6 when it is another or lost)
channels/  one module per target kind: compose, send, reconcile
fetch      thumbnails from public addresses only (the SSRF guard)
"""
