"""The pure core: text in, data out; no file, clock, socket or database (tests/test_purity.py).

    model      the data every layer shares: Settings, Post, Feed, Problem
    sources    which files are posts
    posts      a post file's bytes → Post (front matter, dates, slugs, URLs, revision)
    markup     Markdown → safe HTML and a summary (cmark or Python-Markdown, then nh3)
    slugs      titles and tags → URL segments
    feeds      posts → the feeds to render (which posts, in which order)
    render/    a feed → RSS, Atom and JSON Feed bytes; index.html and feeds.opml
    planning   posts + the ledger's rows → the deliveries to make, and what a failure means
    social     a post → the text of a Mastodon or Bluesky post that fits

The time is always a parameter; the shell (build/, deliver/, serve/) does the I/O.
"""
