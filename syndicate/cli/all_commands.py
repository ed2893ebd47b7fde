"""The command line with every command registered, in the order the docs list them (the commands
page, tests going through them all). `syndicate` itself imports a command's module only when it
runs it (common.Commands)."""

from . import delivery_cmds, host_cmd, init_cmd, run_cmd, site_cmds, store_cmds  # noqa: F401 (each registers its commands)
from .common import main

__all__ = ["main"]
