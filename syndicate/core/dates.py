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
    none). ``reader``: the generator whose own reading of text is wanted (``pelican`` and
    ``pelican-date``, whose underscores are spaces). Raises ValueError with the reason."""
    if isinstance(value, str) and reader.startswith("pelican"):
        dt = pelican_date(value.replace("_", " ") if reader == "pelican-date" else value)
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
