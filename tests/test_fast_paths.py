"""Each fast path of the cold build gives what the general code it skips would give."""

from __future__ import annotations

import unicodedata
from urllib.parse import urljoin

from hypothesis import example, given, settings
from hypothesis import strategies as st

from syndicate.core.bodies import XML_ILLEGAL, may_hold_illegal
from syndicate.core.markup import _SAFE_SCHEMES_ABSOLUTE, absolute_url
from syndicate.core.slugs import slug_problem

TRICKY = "\x00\x08\t\n\x0b\x0c\r\x1f \x7f\x85\xa0\ufffd\ufffe\uffff\ufeff\u2028é’🎉-a."


@example("a\ufffeb")
@example("\ufeffx\uffff")
@example("\x0b")
@given(st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY))))
def test_a_file_said_clean_by_its_bytes_holds_no_character_xml_forbids(text: str) -> None:
    if not may_hold_illegal(text.encode("utf-8")):
        assert XML_ILLEGAL.search(text) is None


@example("hello world")
@example("a\x7fb")
@example("tab\there")
@given(st.text(st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)), min_size=1))
def test_a_slug_of_ascii_is_judged_as_any_other(slug: str) -> None:
    spaced = any(unicodedata.category(c)[0] in "CZ" for c in slug)
    problem = slug_problem(slug)
    if spaced and "/" not in slug and "\\" not in slug and not slug.startswith(".") and ".." not in slug:
        assert problem is not None and "spaces or control characters" in problem
    elif problem is not None:
        assert "spaces or control characters" not in problem


bases = st.sampled_from(
    [
        *(
            "https://example.com/posts/a/",
            "https://example.com/posts/a",
            "https://example.com",
            "http://x.org/a/b.html",
        ),
        *("https://example.com/p/a?x=1", "https://example.com/p//a/", "https://ex.com:8080/é/", "https://u@ex.com/a/"),
        *("https://EXAMPLE.com/A/", "https://example.com/a%20b/", "https://example.com/a/./b/", "https://e.com/a/../"),
    ]
)
url_chars = st.one_of(st.sampled_from("abz09-._~/?#=&%:@!$'()*+,; é\\\t\n[]"), st.characters(codec="utf-8"))


@example("https://example.com/posts/a/", "/img/a.png")
@example("https://example.com/posts/a/", "../a.png")
@example("https://example.com/posts/a/", "a//b.png")
@example("https://example.com/posts/a/", "./a?b=../c")
@example("https://example.com/posts/a/", ";")
@example("https://example.com/posts/a/", "0?")
@settings(max_examples=2000)
@given(bases, st.text(url_chars, min_size=1, max_size=30))
def test_a_url_made_absolute_by_the_fast_path_is_what_urljoin_makes(base: str, url: str) -> None:
    written = url.strip()
    joined = written if not written or _SAFE_SCHEMES_ABSOLUTE.match(written) else urljoin(base, written)
    assert absolute_url(base, url) == joined
