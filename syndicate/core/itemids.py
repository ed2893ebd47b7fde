"""Which id a feed item carries: the post's own (``Post.id``: its front-matter ``id``, else its
permalink), or, when syndicate's feeds take over the generator's feed addresses (``[output]
take_over``), the id the generator's own feed gave the same post, so that no subscriber of that
address sees a post twice. Only the feeds change: the ledger and webhooks keep ``Post.id``. Pure.

- Hugo, Zola, Eleventy (eleventy-plugin-rss), Astro (@astrojs/rss): the permalink.
- Jekyll (jekyll-feed): ``post.id | absolute_url``, where Jekyll's ``Document#id`` is the URL's
  folder joined with the post's slug (``/2024/01/05/hello``: no ``.html``, no trailing slash).
- Pelican (feedgenerator's ``get_tag_uri``): ``tag:<host>,<date>:<path>`` with the article's date
  in the site's time zone.
"""

from __future__ import annotations

import posixpath
from urllib.parse import quote, urlsplit

from .dialects import file_name, jekyll_slug
from .model import Post, Settings

_URL_SAFE = "/:@!$&'()*+,;=-._~%"


def item_id(post: Post, settings: Settings) -> str:
    """The id of ``post``'s item in every feed syndicate renders."""
    if not settings.output.take_over:
        return post.id
    generator = settings.content.generator
    if generator == "jekyll":
        return _jekyll(post)
    if generator == "pelican":
        return _pelican(post, settings)
    if generator == "syndicate":
        return post.id
    return post.url


def _jekyll(post: Post) -> str:
    parts = urlsplit(post.url)
    folder = posixpath.dirname(parts.path.rstrip("/")) or "/"  # Ruby's File.dirname ignores a trailing "/"
    own = file_name(post.source).rstrip(".")  # Jekyll's data["slug"]: the file's, unless front matter gives one
    slug = own if jekyll_slug(own) == post.slug else post.slug
    path = quote(posixpath.join(folder, slug), safe=_URL_SAFE)
    return f"{parts.scheme}://{parts.netloc}{path}"


def _pelican(post: Post, settings: Settings) -> str:
    parts = urlsplit(post.url)
    day = post.published.astimezone(settings.site.tz).strftime("%Y-%m-%d")
    fragment = f"/{parts.fragment}" if parts.fragment else ""
    return f"tag:{parts.hostname},{day}:{parts.path}{fragment}"
