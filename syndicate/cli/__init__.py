"""The `syndicate` command (its click group: cli/common.py's ``main``; nothing here loads click).
Maps errors to exit codes and one-line messages.

Exit codes (every command):
    0  done, nothing wrong
    1  done, but some posts were rejected (their problems are printed; feeds still written)
    2  usage or configuration error: nothing was done
    3  the output folder could not be written (or the port bound, for `run`)
    4  publish: some deliveries failed (they will be retried) or are dead, or the guard held a
       mass retraction (nothing deleted until `publish --allow-deletions`)
    5  another syndicate is delivering for this site
    6  the delivery ledger is missing, unreadable or not this site's: nothing was sent
"""

from .plain import EXIT_BUSY, EXIT_CONFIG, EXIT_DELIVERY, EXIT_LEDGER, EXIT_OK, EXIT_OUTPUT, EXIT_REJECTED

__all__ = ["EXIT_BUSY", "EXIT_CONFIG", "EXIT_DELIVERY", "EXIT_LEDGER", "EXIT_OK", "EXIT_OUTPUT", "EXIT_REJECTED"]
