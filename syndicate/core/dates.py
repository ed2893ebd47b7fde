"""A front-matter date → an aware datetime, in every unambiguous form the generators accept. Pure.

ISO 8601 first (``2024-03-05``, ``2024-03-05T10:00:00+01:00``, YAML's and TOML's own dates),
then the looser forms blogs carry: ``2024-4-9``, ``2024/03/05``, Jekyll's ``2024-01-29
18:30:22 -0800``, Astro's and JavaScript's ``Jul 08 2022`` and ``8 July 2022``. A date that
could be read two ways (``05/06/2024``: day or month first?) is refused, never guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from .frontmatter import type_name

_ISO_LOOSE = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?"
    r"[ \t]*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
_AMBIGUOUS = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")
_MONTHS = {
    m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)
}
_WORDY = re.compile(
    r"^(?:[A-Za-z]{3,9},?\s+)?(?:(\d{1,2})\s+([A-Za-z]{3,9})\.?|([A-Za-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?),?"
    r"\s+(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?[ \t]*(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)
DATE_HINT = "write YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][+HH:MM]"


def _zone(text: str | None, tz: Any) -> Any:
    if not text or text.upper() in ("Z", "UTC", "GMT"):
        return UTC if text else tz
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def _loose_date(text: str, tz: Any) -> datetime | None:
    """The forms generators accept beside ISO 8601: ``2024-4-9``, ``2024/04/09``, ``2024-01-29
    18:30:22 -0800`` (Jekyll), ``Jul 08 2022`` and ``8 July 2022`` (Astro, JavaScript's Date)."""
    m = _ISO_LOOSE.match(text)
    if m:
        y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.groups()[:6])
        return datetime(y, mo, d, h, mi, sec, tzinfo=_zone(m.group(8), tz))
    m = _WORDY.match(text)
    if m:
        day, month = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        number = _MONTHS.get(month[:3].lower())
        if number is None or (len(month) > 3 and not any(full.startswith(month.lower()) for full in _FULL)):
            return None
        h, mi, sec = (int(g) if g else 0 for g in m.groups()[5:8])
        return datetime(int(m.group(5)), number, int(day), h, mi, sec, tzinfo=_zone(m.group(9), tz))
    return None


_FULL = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_FULL += ["sept"]


def parse_when(value: object, tz: Any, reader: str = "") -> datetime:
    """A front-matter date → an aware UTC datetime. Raises ValueError with the reason."""
    dt = read_when(value, tz, reader)
    try:
        return dt.astimezone(UTC).replace(microsecond=0)
    except (OverflowError, ValueError) as e:
        shown = value if isinstance(value, str) else dt.isoformat()
        raise ValueError(f"{shown!r} is out of range") from e


def read_when(value: object, tz: Any, reader: str = "") -> datetime:
    """A front-matter date → an aware datetime in the offset it was written with (``tz`` when
    none). ``reader``: the generator whose own reading of text is wanted (``jekyll``: Ruby's;
    ``pelican`` and ``pelican-date``, whose underscores are spaces). Raises ValueError with the reason."""
    if isinstance(value, str) and reader.startswith("pelican"):
        dt = pelican_date(value.replace("_", " ") if reader == "pelican-date" else value)
    elif isinstance(value, str) and reader == "jekyll":
        dt = ruby_date(value.strip(), tz)
    elif isinstance(value, str) and reader == "hugo" and (go := _hugo_or_none(value.strip(), tz)) is not None:
        dt = go
    elif isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime.combine(value, time(0, 0))
    elif isinstance(value, str):
        text = value.strip()
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            dt = datetime.fromisoformat(iso)
        except ValueError:
            if _AMBIGUOUS.match(text):
                raise ValueError(f"cannot read {value!r} as a date: day or month first? {DATE_HINT}") from None
            try:
                loose = _loose_date(text, tz)
            except ValueError as e:  # a day or hour out of range
                raise ValueError(f"cannot read {value!r} as a date ({e}); {DATE_HINT}") from None
            if loose is None:
                raise ValueError(f"cannot read {value!r} as a date; {DATE_HINT}") from None
            dt = loose
    else:
        raise ValueError(f"must be a date, not {type_name(value)}")
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=tz)


# Pelican reads a date with ``dateutil.parser.parse(text, default=<today, midnight>)``
# (pelican.utils.get_date): its every form, month before day in ``05/06/2024``, a missing part
# from today. Read twice with two defaults, a date that takes a part from them is refused.
_DEFAULTS = (datetime(2001, 1, 1), datetime(2002, 2, 2))
_UTC_NAMES = frozenset({"UTC", "GMT", "Z", "UT"})


def _zone_of(name: str | None, offset: int | None) -> Any:
    """dateutil's zone for a name and an offset: the offset; a name other than UTC's none (the
    site's zone, as Pelican does for a zone name dateutil does not know)."""
    if offset is not None:
        return timezone(timedelta(seconds=offset))
    return UTC if name and name.upper() in _UTC_NAMES else None


def pelican_date(text: str) -> datetime:
    """A date as Pelican reads it (naive when it names no offset). Raises ValueError."""
    from dateutil import parser  # only a Pelican site needs it

    text = re.sub(" +", " ", text.strip())
    try:
        first, second = (_parsed(parser.parse(text, default=d, tzinfos=_zone_of)) for d in _DEFAULTS)
    except (parser.ParserError, ValueError, OverflowError) as e:
        raise ValueError(f"cannot read {text!r} as a date ({_reason(e)}); {DATE_HINT}") from None
    if first != second:
        parts = zip(("year", "month", "day"), first.timetuple()[:3], second.timetuple()[:3], strict=True)
        missing = [name for name, a, b in parts if a != b]
        raise ValueError(
            f"{text!r} has no {' or '.join(missing)}: Pelican takes it from the day it builds; {DATE_HINT}"
        )
    return first


def _parsed(value: object) -> datetime:
    assert isinstance(value, datetime)
    return value


def _reason(e: Exception) -> str:
    text = str(e.args[0]) if e.args else str(e)
    return text.split(":", 1)[0].strip() or "not a date"


# Jekyll reads a date written as text with Ruby's ``Time.parse`` (``Utils.parse_date``), that is
# ``Date._parse`` (ruby/ext/date/date_parse.c): a weekday dropped, a time with its zone found
# anywhere, then the first of its date patterns that matches, the three numbers put in order by
# which looks like a year. These are those patterns, each run once on one short line (a
# value over 100 characters is refused first), so none can take long.
class _Later:
    """A pattern compiled when first used: the Ruby (Jekyll) and Go (Hugo) date readers' 17
    patterns cost every build that reads a post ~2 ms to compile, and only those sites use them."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    @property
    def pattern(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return self._compiled

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text)

    def fullmatch(self, text: str) -> re.Match[str] | None:
        return self.pattern.fullmatch(text)

    def sub(self, repl: str, text: str) -> str:
        return self.pattern.sub(repl, text)


_RUBY_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
_RUBY_DAY = _Later(r"\b(?:sun|mon|tue|wed|thu|fri|sat)[^-/\d\s]*", re.IGNORECASE)
_RUBY_TIME = _Later(
    r"(\d+)\s*(?:(?::\s*(\d+)(?:\s*:\s*(\d+)(?:[,.]\d*)?)?|h(?:\s*(\d+)m?(?:\s*(\d+)s?)?)?)"
    r"(?:\s*([ap])(?:m\b|\.m\.))?|([ap])(?:m\b|\.m\.))"
    r"(?:\s*((?:gmt|utc?)?[-+]\d+(?:[,.:]\d+(?::\d+)?)?|[a-z]+(?:\sdst)?\b))?",
    re.IGNORECASE,
)
_RUBY_EU = _Later(rf"'?(\d+)[^-\d\s']*\s*({_RUBY_MONTHS})[^-\d\s']*(?:\s*('?-?\d+)(?:st|nd|rd|th)?\b)?", re.IGNORECASE)
_RUBY_US = _Later(rf"\b({_RUBY_MONTHS})[^-\d\s']*\s*('?\d+)[^-\d\s']*(?:\s*,?\s*('?-?\d+))?", re.IGNORECASE)
_RUBY_ISO = _Later(r"('?[-+]?\d+)-(\d+)-('?-?\d+)")
_RUBY_SLA = _Later(r"('?-?\d+)/\s*('?\d+)(?:\D\s*('?-?\d+))?")
_RUBY_DOT = _Later(r"('?-?\d+)\.\s*('?\d+)\.\s*('?-?\d+)")
_RUBY_ORDINAL = _Later(r"\b(\d{4})-(\d{3})\b")
_RUBY_MON = _Later(rf"\b({_RUBY_MONTHS})\S*", re.IGNORECASE)
_RUBY_MDAY = _Later(r"(\d+)(?:st|nd|rd|th)\b", re.IGNORECASE)
_RUBY_DIGITS = _Later(r"(?<!\d)(\d{8})(?:t?(\d{2})(\d{2})?(\d{2})?)?(?!\d)", re.IGNORECASE)
# Ruby's Time::ZoneOffset: the zone names Time.parse knows (hours), and the military letters.
_RUBY_ZONES = {"UTC": 0, "Z": 0, "UT": 0, "GMT": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5}
_RUBY_ZONES |= {"MST": -7, "MDT": -6, "PST": -8, "PDT": -7}
_RUBY_ZONES |= {c: i for i, c in enumerate("ABCDEFGHI", 1)} | {c: i for i, c in enumerate("KLM", 10)}
_RUBY_ZONES |= {c: -i for i, c in enumerate("NOPQRSTUVWXY", 1)}


def _s3e(y: str | None, m: str | None, d: str | None) -> tuple[str | None, str | None, str | None]:
    """date_parse.c's s3e: three numbers as written → (year, month, day), by which looks like a year."""
    if y is not None and m is not None and d is None:
        y, m, d = None, y, m
    if y is None and d is not None and (len(d) > 2 or d.startswith("'")):
        y, d = d, None
    if m is not None and (m.startswith("'") or len(m) > 2):
        y, m, d = m, d, y
    if d is not None and (d.startswith("'") or len(d) > 2):
        y, d = d, y
    return y, m, d


def _ruby_year(text: str) -> int:
    digits = text.lstrip("'")
    year = int(digits)
    if not text.startswith("'") and digits.lstrip("-").isdigit() and len(digits.lstrip("-")) <= 2:
        year += 1900 if year >= 69 else 2000  # Time.parse completes a two-digit year
    return year


def _ruby_fields(text: str) -> dict[str, Any]:
    """Date._parse's fields (year, mon, mday, yday, hour, min, sec, zone) of ``text``."""
    s = re.sub(r"[^-+',./:@\w\[\]]+", " ", text)
    s = _RUBY_DAY.sub(" ", s)
    out: dict[str, Any] = {}
    m = _RUBY_TIME.search(s)
    if m:
        hour = int(m.group(1))
        minute, second = m.group(2) or m.group(4), m.group(3) or m.group(5)
        meridian = (m.group(6) or m.group(7) or "").lower()
        if meridian:
            hour = hour % 12 + (12 if meridian == "p" else 0)
        out |= {"hour": hour, "min": int(minute or 0), "sec": int(second or 0), "zone": m.group(8)}
        s = s[: m.start()] + " " * (m.end() - m.start()) + s[m.end() :]
    y: str | None = None
    mon: str | None = None
    d: str | None = None
    if m := _RUBY_EU.search(s):
        d, mon, y = m.group(1), m.group(2), m.group(3)
        y, _, d = _s3e(y, "1", d)  # the month is a name: only the year and day are placed
    elif m := _RUBY_US.search(s):
        mon, d, y = m.group(1), m.group(2), m.group(3)
        y, _, d = _s3e(y, "1", d)
    elif (m := _RUBY_ISO.search(s)) or (m := _RUBY_SLA.search(s)) or (m := _RUBY_DOT.search(s)):
        y, mon, d = _s3e(m.group(1), m.group(2), m.group(3))
    elif m := _RUBY_ORDINAL.search(s):
        y, out["yday"] = m.group(1), int(m.group(2))
    elif m := _RUBY_MON.search(s):
        mon = m.group(1)
    elif m := _RUBY_MDAY.search(s):
        d = m.group(1)
    elif m := _RUBY_DIGITS.search(s):
        y, mon, d = m.group(1)[:4], m.group(1)[4:6], m.group(1)[6:]
        if m.group(2):
            out |= {"hour": int(m.group(2)), "min": int(m.group(3) or 0), "sec": int(m.group(4) or 0)}
    if y is not None:
        out["year"] = _ruby_year(y)
    if mon is not None:
        out["mon"] = _MONTHS[mon[:3].lower()] if mon[:1].isalpha() else int(mon.lstrip("'"))
    if d is not None:
        out["mday"] = int(d.lstrip("'"))
    return out


def _ruby_zone(zone: str, year: int, tz: Any) -> Any:
    """Time.zone_offset: a numeric offset, a name Ruby knows, the site zone's own abbreviation (its
    January, else July, offset), else None (local time)."""
    name = zone.upper()
    m = re.fullmatch(r"(?:GMT|UTC?)?([+-])(\d\d)(:?)(\d\d)(?:\3(\d\d))?|(?:GMT|UTC?)?([+-])(\d\d)", name)
    if m:
        sign = -1 if (m.group(1) or m.group(6)) == "-" else 1
        hours = int(m.group(2) or m.group(7))
        return timezone(sign * timedelta(hours=hours, minutes=int(m.group(4) or 0), seconds=int(m.group(5) or 0)))
    if name in _RUBY_ZONES:
        return timezone(timedelta(hours=_RUBY_ZONES[name]))
    for month in (1, 7):
        local = datetime(year, month, 1, tzinfo=tz)
        if (local.tzname() or "").upper() == name:
            return timezone(local.utcoffset() or timedelta(0))
    return None


def ruby_date(text: str, tz: Any) -> datetime:
    """A date as Jekyll reads it (Ruby's ``Time.parse``): aware, in the site's zone when it names
    none Ruby knows. A date with no year, which Ruby takes from the clock, is refused. Raises
    ValueError."""
    if len(text) > 100:
        raise ValueError(f"cannot read {text[:20]!r}… as a date: longer than 100 characters")
    f = _ruby_fields(text)
    if not any(k in f for k in ("year", "mon", "mday", "yday", "hour")):
        raise ValueError(f"cannot read {text!r} as a date; {DATE_HINT}")
    if "year" not in f:
        raise ValueError(f"{text!r} has no year: Jekyll takes it from the day it builds; {DATE_HINT}")
    year, hour, minute, second = f["year"], f.get("hour", 0), f.get("min", 0), f.get("sec", 0)
    zone = _ruby_zone(f["zone"], year, tz) if f.get("zone") else None
    try:
        if "yday" in f:
            day = datetime(year, 1, 1) + timedelta(days=f["yday"] - 1)
        else:
            mon, mday = f.get("mon", 1), f.get("mday", 1)
            if not 1 <= mon <= 12 or not 1 <= mday <= 31 or hour > 24 or minute > 59 or second > 60:
                raise ValueError("out of range")
            day = datetime(year, mon, 1) + timedelta(days=mday - 1)  # Ruby's Time: 30 February is 2 March
        naive = day + timedelta(hours=hour, minutes=minute, seconds=second)
    except (ValueError, OverflowError):
        raise ValueError(f"cannot read {text!r} as a date (a part is out of range); {DATE_HINT}") from None
    return naive.replace(tzinfo=zone or tz)


# Hugo 0.111 reads a date written as text with spf13/cast's list of Go layouts
# (StringToDateInDefaultLocation): RFC 3339 and ISO forms (read above), and these. A zone
# written as a name (MST, GMT, even UTC) is the site's zone to it; a numeric one is kept.
_GO_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_GO_TIME = r"(\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?"
_GO_ZONE = r"(?:([+-]\d{4})|[A-Z]{3,5})"
_GO_LAYOUTS = [  # (pattern, the order of year, month, day in its groups)
    _Later(rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{{2}}) {_GO_MONTH} (\d{{4}}) {_GO_TIME} {_GO_ZONE}"),  # RFC1123
    _Later(rf"(\d{{2}}) {_GO_MONTH} (\d{{2}}) {_GO_TIME} {_GO_ZONE}"),  # RFC822(Z)
    _Later(rf"[A-Z][a-z]+day, (\d{{2}})-{_GO_MONTH}-(\d{{2}}) {_GO_TIME} {_GO_ZONE}"),  # RFC850
    _Later(rf"(\d{{2}}) {_GO_MONTH} (\d{{4}})()()()"),  # "02 Jan 2006"
]
_GO_ANSI = _Later(  # ANSIC, UnixDate, RubyDate: the year last
    rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) {_GO_MONTH} ( ?\d{{1,2}}) {_GO_TIME}(?: {_GO_ZONE})? (\d{{4}})"
)
_GO_STRING = _Later(rf"(\d{{4}})-(\d{{2}})-(\d{{2}}) {_GO_TIME} ([+-]\d{{4}}) [A-Z]{{3,5}}")  # Time.String()


def hugo_date(text: str, tz: Any) -> datetime | None:
    """A date in one of the Go layouts Hugo reads beyond ISO 8601, or None."""
    groups: tuple[str | None, ...]
    if m := _GO_STRING.fullmatch(text):
        y, mo, d, h, mi, s, zone = m.groups()
        groups = (y, mo, d, h, mi, s, zone)
    elif m := _GO_ANSI.fullmatch(text):
        mo, d, h, mi, s, zone, y = m.groups()
        groups = (y, mo, d.strip(), h, mi, s, zone)
    else:
        m = next((found for p in _GO_LAYOUTS if (found := p.fullmatch(text))), None)
        if m is None:
            return None
        d, mo, y, h, mi, s, zone = (*m.groups(), None)[:7]
        groups = (y, mo, d, h, mi, s, zone)
    y, mo, d, h, mi, s, zone = groups
    assert y is not None and mo is not None and d is not None
    year = int(y) + (0 if len(y) == 4 else 1900 if int(y) >= 69 else 2000)  # Go's two-digit years
    month = _MONTHS[mo.lower()] if mo.isalpha() else int(mo)
    when = datetime(year, month, int(d), int(h or 0), int(mi or 0), int(s or 0))
    return when.replace(tzinfo=_zone(zone, tz) if zone else tz)


def _hugo_or_none(text: str, tz: Any) -> datetime | None:
    try:
        return hugo_date(text, tz)
    except ValueError as e:  # a day or hour out of range
        raise ValueError(f"cannot read {text!r} as a date ({e}); {DATE_HINT}") from None
