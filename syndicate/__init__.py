"""syndicate: feeds from Markdown posts, and each new post delivered exactly once."""

__version__ = "0.1.0"
