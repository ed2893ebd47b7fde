"""Flat front matter (`key: value` lines) is read without PyYAML's Python layer: the result must be
exactly what yaml.load with our SafeLoader gives, value and type, or the text goes to yaml.load."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from syndicate.core import frontmatter
from syndicate.core.frontmatter import _NOT_FLAT, SafeLoader, YamlProblem, _flat_yaml, safe_yaml

REPO = Path(__file__).resolve().parent.parent


def _slow(text: str) -> Any:
    return yaml.load(text, Loader=SafeLoader)


def _same(text: str) -> bool:
    """The fast reading equals yaml.load's, key and value types included (repr tells True from 1,
    a date from a datetime, an offset from another); or the text is not flat."""
    fast = _flat_yaml(text)
    if fast is _NOT_FLAT:
        return True
    return repr(fast) == repr(_slow(text))


TRICKY = [
    'title: "Point Toward Class"\ndate: 2019-01-02T02:17:35Z\ntags: ["chemistry", "logging evening"]\n'
    "thumb: /images/thumbs/x.jpg\n",
    "a: yes\nb: No\nc: on\nd: OFF\ne: true\nf: False\ng: y\nh: n\ni: Yes\n",
    "a: ~\nb: null\nc: Null\nd: NULL\ne:\nf: nil\n",
    "a: -1\n",
    "a: 1\nc: +1\nd: 0x1F\ne: 0o17\nf: 017\ng: 1_000\nh: 1:30\ni: 0b101\nj: 1e3\nk: 1.5e3\nl: 1.\n",
    "a: .inf\nb: .NaN\nc: .5\nd: 1:30.5\ne: 6.8523015e+5\nf: 685.230_15e+03\n",
    "a: 2024-01-01\nb: 2024-01-01 10:00\nc: 2024-01-01T10:00:00+02:00\nd: 2024-13-45\ne: 2024-1-1\n"
    "f: 2024-01-01t10:00:00.5Z\ng: 2024-01-01 10:00:00 -5\nh: 2024-02-30\n",
    "yes: no\nnull: 1\nOn: x\ntrue: 2\n",
    "a: 1\na: 2\nb: x\nb: [y]\n",
    "title: It's a title, with commas [and brackets] {and braces}\nurl: https://example.com/a#b\n",
    "a: x # comment\n",
    "a: b: c\n",
    "a: b:\n",
    "a: <<\n",
    "a: =\n",
    "<<: x\n",
    "a: 'it''s'\n",
    'a: "with \\"escape\\""\n',
    "a: [1, yes, a b, \"x\", 'y', 2024-01-01, ~]\n",
    "a: []\nb: [ ]\n",
    "a: [a,]\n",
    "a: [a,,b]\n",
    "a: [[a]]\nf: [a, [b]]\n",
    "a: [a:b]\nb: [a #b]\n",
    "a: *x\n",
    "a: &x 1\n",
    "a: !!str 1\n",
    "a: |\n  text\n",
    "a: >\n  text\n",
    "a:\n  - x\n",
    "a: x\n  continued\n",
    "# comment\na: 1\n",
    "a:\tb\n",
    "a: b\r\n",
    "a: b\x85c\n",
    "a: b\u2028c\n",
    "\ufeffa: b\n",
    "a: b\x7fc\n",
    "a: b\u00a0\n",
    "a: \u00a0b\n",
    "a: é ü 日本 🎉\n",
    "a: -x\nb: ?x\nc: :x\nd: %x\ne: @x\nf: `x\n",
    "a:b\n",
    "a : b\n",
    "a:  b  \n",
    "a: '\n",
    'a: "x" y\n',
    "a: 'x' \n",
    "key-with-dash: 1\n_under: 2\nCamelCase: 3\n",
    "",
    "\n\n",
    "just text\n",
    "- a\n- b\n",
    "x" * 120 + ": 1\n",
]


def test_the_fast_reading_is_yaml_loads_on_tricky_front_matter() -> None:
    for text in TRICKY:
        assert _same(text), text


def test_the_usual_front_matter_is_read_fast_and_the_rest_by_yaml() -> None:
    """The bench's posts and the common shapes take the fast way; the others are not guessed at."""
    flat = 'title: "A"\ndate: 2019-01-02T02:17:35Z\ntags: ["x", "y z"]\nthumb: /a.jpg\ndraft: false\n'
    assert _flat_yaml(flat) is not _NOT_FLAT
    for text in ("a: x # c\n", "a:\n  - x\n", "a: 'it''s'\n", "a: *x\n", "a: b\r\n", "# c\na: 1\n", "a: <<\n"):
        assert _flat_yaml(text) is _NOT_FLAT, text
    with pytest.raises(YamlProblem):  # an alias: still refused by the slow way
        safe_yaml("a: *x\n")


def test_every_front_matter_of_the_tests_and_the_examples_reads_the_same() -> None:
    """Every YAML front matter kept in the repository (the bad-post corpus, the generator sites)."""
    seen = 0
    for path in sorted(_markdown(REPO / "tests") + _markdown(REPO / "docs")):
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if not text.startswith("---"):
            continue
        try:
            fm = frontmatter.split(str(path), text)
        except Exception:  # a post that is bad on purpose
            continue
        if fm.form != "yaml":
            continue
        fast = _flat_yaml(fm.text)
        if fast is not _NOT_FLAT:  # (never an alias: a billion laughs is not expanded here)
            seen += 1
            assert repr(fast) == repr(_slow(fm.text)), path
    assert seen > 20


def _markdown(root: Path) -> list[Path]:
    found = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if d != "node_modules"]  # an example's installed packages
        found += [Path(folder) / name for name in names if name.endswith(".md")]
    return found


_KEYS = st.sampled_from(["title", "date", "tags", "a", "yes", "No", "null", "on", "key-x", "_k", "Date", "x1"])
_PIECES = st.sampled_from(
    [
        "a", "B", " ", "  ", "-", "?", ":", ": ", " #", "#", ",", "[", "]", "{", "}", "'", '"', "\\", "!", "&", "*",
        "|", ">", "%", "@", "`", "~", "<<", "=", ".", "0", "1", "7", "_", "x", "e", "+", "2024-01-01", "10:00",
        "T", "Z", "yes", "off", "null", ".inf", "0x", "0o", "1:30", "é", "\u00a0", "\t", "\x85", "\u2028", "\ufeff",
        "\x7f", "日本",
    ]
)  # fmt: skip
_SCALAR_TEXT = st.lists(_PIECES, max_size=6).map("".join)


@st.composite
def _values(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["plain", "double", "single", "list", "empty"]))
    if kind == "plain":
        return " " + draw(_SCALAR_TEXT)
    if kind == "double":
        return ' "' + draw(_SCALAR_TEXT) + '"'
    if kind == "single":
        return " '" + draw(_SCALAR_TEXT) + "'"
    if kind == "list":
        items = draw(st.lists(st.one_of(_SCALAR_TEXT, _SCALAR_TEXT.map(lambda s: f'"{s}"')), max_size=4))
        return " [" + ",".join(items) + "]"
    return draw(st.sampled_from(["", " ", "  "]))


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = [draw(_KEYS) + ":" + draw(_values()) for _ in range(draw(st.integers(1, 5)))]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=1500, deadline=None)
@given(_documents())
def test_the_fast_reading_is_yaml_loads_on_generated_front_matter(text: str) -> None:
    fast = _flat_yaml(text)
    if fast is _NOT_FLAT:
        return
    assert repr(fast) == repr(_slow(text)), text
