"""The feeds' front door (index.html, feeds.opml): its attribute quoting is the standard library's."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr as stdlib_quoteattr

from hypothesis import example, given
from hypothesis import strategies as st

from syndicate.core.render.pages import quoteattr


@given(st.text(alphabet=st.sampled_from(list("ab&<>\"'\n\r\t é")) | st.characters(), max_size=40))
@example('Tom\'s "best" <feed> & more\n')
@example("it's")
@example('say "hi"')
def test_quoteattr_is_the_standard_librarys(value: str) -> None:
    assert quoteattr(value) == stdlib_quoteattr(value)
