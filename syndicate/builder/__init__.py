"""The build: the content folder → the output folder (see docs/dev.md, "Shape").

    discover   which files are posts (a scan, or the watcher's events)       → Scanned
    load       Scanned → posts, through the cache                            → Post
    workers    posts' HTML within the deadline; forked render-and-write
    skip       which feeds must be rendered again (fingerprints)             → Rendered
    manifest   would a build change nothing? (stats alone)
    pipeline   prepare → write_outputs → report; ``build``
    report     what a build found and did                                    → BuildReport

Nothing is imported here: a build that changes nothing imports only ``pipeline``,
``discover``, ``manifest`` and what they need, not the renderers or the process pool.
"""
