"""The build: the content folder → the output folder (see docs/dev.md, "The house").

discover   which files are posts (a scan, or the watcher's events)       → Scanned
load       Scanned → posts, through the cache                            → Post
workers    posts' HTML within the deadline; forked render-and-write
skip       which feeds must be rendered again (fingerprints)             → Rendered
manifest   would a build change nothing? (stats alone)
pipeline   prepare → write_outputs → report; ``build``
report     what a build found and did                                    → BuildReport
"""

from .discover import ContentWatch, Scanned, find_post_files, scan
from .load import PostIndex, load_posts
from .pipeline import Prepared, build, finish, prepare, write_outputs
from .report import STATE_DIR, BuildReport, Tally, trace
from .skip import RENDER_FORMAT, RenderMemo
from .workers import PARALLEL_MIN, Workers, make_contents

__all__ = [
    "PARALLEL_MIN",
    "RENDER_FORMAT",
    "STATE_DIR",
    "BuildReport",
    "ContentWatch",
    "PostIndex",
    "Prepared",
    "RenderMemo",
    "Scanned",
    "Tally",
    "Workers",
    "build",
    "find_post_files",
    "finish",
    "load_posts",
    "make_contents",
    "prepare",
    "scan",
    "trace",
    "write_outputs",
]
