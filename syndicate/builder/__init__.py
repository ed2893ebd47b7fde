"""The build: the content folder → the output folder (see docs/dev.md, "The house").

discover   which files are posts (a scan, or the watcher's events)       → Scanned
load       Scanned → posts, through the cache                            → Post
workers    posts' HTML within the deadline; forked render-and-write
skip       which feeds must be rendered again (fingerprints)             → Rendered
manifest   would a build change nothing? (stats alone)
pipeline   prepare → write_outputs → report; ``build``
report     what a build found and did                                    → BuildReport
"""

from .discover import ContentWatch, PostIndex, Scanned, find_post_files, scan
from .load import load_posts
from .pipeline import UnwrittenBuild, build, final_report, prepare, write_outputs
from .report import STATE_DIR, BuildReport, Tally, trace
from .skip import RENDER_FORMAT, IncrementalRender
from .workers import PARALLEL_MIN, Workers, make_contents

__all__ = [
    "PARALLEL_MIN",
    "RENDER_FORMAT",
    "STATE_DIR",
    "BuildReport",
    "ContentWatch",
    "IncrementalRender",
    "PostIndex",
    "Scanned",
    "Tally",
    "UnwrittenBuild",
    "Workers",
    "build",
    "final_report",
    "find_post_files",
    "load_posts",
    "make_contents",
    "prepare",
    "scan",
    "trace",
    "write_outputs",
]
