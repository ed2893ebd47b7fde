"""The pure part of an upload to a bucket (syndicate/core/uploads.py): which objects are put, in
which order and on which condition, which are deleted, which are left alone; the headers; the
s3:// URL; and the [output] keys as `check` reads them (a credential refused by its key)."""

from __future__ import annotations

import pytest

from syndicate.config import parse_settings
from syndicate.core.uploads import headers, parse_s3_url, plan_upload
from syndicate.errors import ConfigError
from tests.conftest import CONFIG

SETTINGS = parse_settings(CONFIG)


def test_the_plan_puts_what_differs_term_feeds_first_and_pages_last() -> None:
    local = {
        "index.html": "i2",
        "feeds.opml": "o1",
        "feed.xml": "f2",
        "atom.xml": "a1",
        "tags/x/feed.xml": "x2",
        "tags/y/feed.xml": "y1",
        "syndication.json": "s1",
    }
    remote = {"index.html": "i1", "feeds.opml": "o1", "feed.xml": "f1", "atom.xml": "a1", "tags/x/feed.xml": "x1"}
    ours = {k: frozenset({v}) for k, v in remote.items()} | {"tags/gone/feed.xml": frozenset({"g1"})}
    remote = remote | {"tags/gone/feed.xml": "g1", "robots.txt": "r1"}
    plan = plan_upload(local, remote, ours, SETTINGS)
    assert plan.puts == [
        ("tags/x/feed.xml", "x1"),  # If-Match the ETag listed
        ("tags/y/feed.xml", None),  # If-None-Match: *
        ("feed.xml", "f1"),
        ("syndication.json", None),
        ("index.html", "i1"),
    ]
    assert plan.deletes == ["tags/gone/feed.xml"]  # robots.txt is not syndicate's
    assert plan.refused == {} and plan.learned == []


def test_an_object_syndicate_did_not_upload_is_left_alone_and_never_deleted() -> None:
    local = {"feed.xml": "new", "index.html": "same"}
    remote = {"feed.xml": "theirs", "index.html": "same", "tags/z/feed.xml": "changed"}
    ours = {"tags/z/feed.xml": frozenset({"mine"})}
    plan = plan_upload(local, remote, ours, SETTINGS)
    assert plan.puts == []
    assert list(plan.refused) == ["feed.xml"]
    assert plan.learned == ["index.html"]  # already our bytes: the record learns it
    assert plan.deletes == []  # changed since syndicate uploaded it: somebody else's now


def test_new_headers_put_every_object_again() -> None:
    local = {"feed.xml": "f", "index.html": "i"}
    ours = {k: frozenset({v}) for k, v in local.items()}
    assert plan_upload(local, local, ours, SETTINGS).puts == []
    assert plan_upload(local, local, ours, SETTINGS, rewrite=True).puts == [("feed.xml", "f"), ("index.html", "i")]


def test_each_kind_has_its_type_and_cache_control() -> None:
    assert headers("tags/a/feed.json", SETTINGS) == {
        "Content-Type": "application/feed+json; charset=utf-8",
        "Cache-Control": "max-age=60, stale-while-revalidate=60",
    }
    assert headers("feeds.opml", SETTINGS) == {
        "Content-Type": "text/x-opml; charset=utf-8",
        "Cache-Control": "max-age=300",
    }
    quiet = parse_settings(CONFIG + '\n[output]\npage_cache_control = ""\n')
    assert headers("index.html", quiet) == {"Content-Type": "text/html; charset=utf-8"}
    zipped = parse_settings(CONFIG + '\n[output]\ncontent_encoding = "gzip"\n')
    assert headers("feed.xml", zipped)["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in headers("feed.xml", SETTINGS)


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("s3://feeds", ("feeds", "")),
        ("s3://feeds/", ("feeds", "")),
        ("s3://feeds/blog", ("feeds", "blog/")),
        ("s3://my.bucket-1/a/b/", ("my.bucket-1", "a/b/")),
    ],
)
def test_an_s3_url_is_a_bucket_and_a_prefix(url: str, want: tuple[str, str]) -> None:
    assert parse_s3_url(url) == want


@pytest.mark.parametrize(
    "url", ["s3://ab", "s3://Feeds/", "s3://a..b/", "s3://k:s@feeds/", "s3://feeds/a//b", "gs://x"]
)
def test_a_bad_s3_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_s3_url(url)


@pytest.mark.parametrize("key", ["secret_access_key", "aws_access_key_id", "session_token", "key", "password"])
def test_a_credential_in_output_is_refused_by_its_key_never_its_value(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(CONFIG + f'\n[output]\nurl = "s3://feeds/"\n{key} = "hunter2-secret"\n')
    assert f"[output] {key}: credentials are never read from the config file" in str(caught.value)
    assert "hunter2" not in str(caught.value)
