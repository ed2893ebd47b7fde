"""Each fast path of the cold build gives what the general code it skips would give."""

from __future__ import annotations

import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.core.bodies import XML_ILLEGAL, may_hold_illegal
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
