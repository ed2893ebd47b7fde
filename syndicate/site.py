"""A site as one value: its folder, its settings and where its build goes, made once.

`publish`, `run` and `host` each need the same four things of a site: the folder, the config
read from it, the folder the build writes (``--out``, ``[output] dir``, a bucket's staging
folder, or the preview folder) and the bucket that folder is uploaded to. :meth:`Site.open`
decides them in one place, from the folder and what the command was given; the rooms below take
the value instead of a bare folder that each would read the config from again. A daemon reads
the config again on every cycle (:meth:`Site.with_settings`) but keeps where its build goes as it
was when it started.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .config import bucket_of, load_settings, output_dir, staging_dir
from .core.model import Settings
from .core.uploads import Bucket

PREVIEW_DIR = Path(".syndicate") / "preview"  # `run --preview`: never the folder that is deployed


@dataclass(frozen=True)
class Site:
    """One site, as every command that builds or delivers it uses it."""

    dir: Path
    settings: Settings
    out: Path  # the folder the build writes: --out, [output] dir, a bucket's staging folder, the preview folder
    out_arg: Path | None = None  # the folder the builder is given (None: it reads [output] itself)
    bucket: Bucket | None = None  # the build is uploaded here after it is written (builder/bucket.py)
    given: Path | str | None = None  # --out as the command was given it: a folder, or s3://…
    preview: bool = False  # `run --preview`: the feeds' links on the local address, nothing delivered
    name: str = ""  # how `host` calls it in its log and on /healthz (the folder's name); "" for one site

    @classmethod
    def open(
        cls,
        folder: Path,
        given: Path | str | None = None,
        *,
        preview: bool = False,
        name: str = "",
        settings: Settings | None = None,
    ) -> Site:
        """The site in ``folder``, its build going where ``given`` (``--out``) says, else where its
        config says. Raises ConfigError (a config that does not read, an ``--out`` that is no
        folder of its own or names no bucket)."""
        settings = settings if settings is not None else load_settings(folder)
        folder_arg = given if isinstance(given, Path) else None
        # `--out DIR` is a folder, as for `publish`: [output] url is then not uploaded to; a preview uploads nothing
        url = given if isinstance(given, str) else None
        bucket = None if preview or folder_arg is not None else bucket_of(settings, url)
        if bucket is not None:
            out = staging_dir(folder, bucket)
            out_arg = out if isinstance(given, str) else None
        elif preview and folder_arg is None:
            out = out_arg = folder / PREVIEW_DIR
        else:
            out, out_arg = output_dir(folder, settings, folder_arg), folder_arg
        return cls(folder, settings, out, out_arg, bucket, given, preview, name)

    def with_settings(self, settings: Settings) -> Site:
        """The same site with its config as read again (a daemon's cycle); its build goes where it went."""
        return replace(self, settings=settings)

    @property
    def content(self) -> Path:
        return self.dir / self.settings.content.dir
