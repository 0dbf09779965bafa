"""Parsing and printing of the textual forms of timestamp, date, time and duration.

Owns the string grammars CQL accepts for temporal literals (Cassandra's TimestampSerializer,
SimpleDateSerializer, TimeSerializer and Duration.from) and their canonical printed forms. Used by
literal conversion, CAST and the type codecs. Never on the per-request hot path of prepared
statements (literals are converted once per parsed statement), so precompiled regexes are fine.

Every parser raises `CQLTypeError` with Cassandra's wording for malformed input.
"""

from __future__ import annotations

import datetime
import re

from cql.types.base import CQLTypeError
from cql.types.values import NANOS_PER_DAY, Duration

EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
DATE_EPOCH_OFFSET = 1 << 31   # wire `date` is unsigned with 1970-01-01 at 2**31

_INTEGER = re.compile(r"^-?\d+$")
_TIMESTAMP = re.compile(
    r"^(?P<y>[+-]?\d{4,})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:\.(?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2}|[+-]\d{2}|UTC|GMT)?$"
)
_DATE = re.compile(r"^(?P<y>[+-]?\d{4,})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})$")
_TIME = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{1,2}):(?P<s>\d{1,2})(?:\.(?P<f>\d{1,9}))?$")
_DURATION_UNITS = re.compile(r"(\d+)(y|mo|w|d|h|ms|m|s|us|µs|ns)", re.IGNORECASE)
_ISO_DURATION = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+)S)?)?$"
)
_ISO_WEEKS = re.compile(r"^P(?P<w>\d+)W$")
_ISO_ALT = re.compile(
    r"^P(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})T(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})$"
)

_NS = {"y": 0, "mo": 0, "w": 7 * NANOS_PER_DAY, "d": NANOS_PER_DAY, "h": 3_600_000_000_000,
       "m": 60_000_000_000, "s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "µs": 1_000,
       "ns": 1}
_UNIT_ORDER = ["y", "mo", "w", "d", "h", "m", "s", "ms", "us", "ns"]


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar, for any year (H. Hinnant)."""
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def _check_ymd(y: int, m: int, d: int, text: str, what: str) -> None:
    if not 1 <= m <= 12 or not 1 <= d <= 31:
        raise CQLTypeError(f"Unable to coerce '{text}' to a formatted {what} (long)")
    if civil_from_days(days_from_civil(y, m, d)) != (y, m, d):
        raise CQLTypeError(f"Unable to coerce '{text}' to a formatted {what} (long)")


def parse_timestamp_ms(text: str) -> int:
    """'2024-01-02 03:04:05.678+0000' (and the other CQL forms, or an integer) -> ms since epoch.

    A missing time zone means UTC (the server's zone)."""
    s = text.strip()
    if _INTEGER.match(s):
        v = int(s)
        if not -(1 << 63) <= v < (1 << 63):
            raise CQLTypeError(f"Unable to make long from '{text}'")
        return v
    m = _TIMESTAMP.match(s)
    if not m:
        raise CQLTypeError(f"Unable to coerce '{text}' to a formatted date (long)")
    y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
    _check_ymd(y, mo, d, text, "date")
    h, mi, sec = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
    if h > 23 or mi > 59 or sec > 59:
        raise CQLTypeError(f"Unable to coerce '{text}' to a formatted date (long)")
    frac = (m["f"] or "").ljust(3, "0")[:3]
    ms = ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + int(frac)
    tz = m["tz"]
    if tz and tz not in ("Z", "UTC", "GMT"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        off_min = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
        ms -= sign * off_min * 60_000
    return ms


def format_timestamp_ms(ms: int) -> str:
    """As cqlsh prints a timestamp: '2024-01-02 03:04:05.678000+0000'."""
    days, rem = divmod(ms, 86_400_000)
    y, mo, d = civil_from_days(days)
    secs, msr = divmod(rem, 1000)
    h, r2 = divmod(secs, 3600)
    mi, s = divmod(r2, 60)
    return f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}.{msr:03d}000+0000"


def timestamp_to_datetime(ms: int) -> datetime.datetime | int:
    """Naive UTC datetime (the driver's representation), or the int when out of range."""
    try:
        return EPOCH + datetime.timedelta(milliseconds=ms)
    except OverflowError:
        return ms


def datetime_to_ms(v: datetime.datetime | datetime.date) -> int:
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(datetime.UTC).replace(tzinfo=None)
        return (v - EPOCH) // datetime.timedelta(milliseconds=1)
    return days_from_civil(v.year, v.month, v.day) * 86_400_000


def parse_date_days(text: str) -> int:
    """'2024-01-02' -> signed days since epoch; an integer string is the raw unsigned wire value."""
    s = text.strip()
    if _INTEGER.match(s):
        v = int(s)
        if not 0 <= v < (1 << 32):
            raise CQLTypeError(f"Unable to make unsigned int (for date) from: '{text}'")
        return v - DATE_EPOCH_OFFSET
    m = _DATE.match(s)
    if not m:
        raise CQLTypeError(f"Unable to coerce '{text}' to a formatted date (long)")
    y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
    _check_ymd(y, mo, d, text, "date")
    days = days_from_civil(y, mo, d)
    if not -DATE_EPOCH_OFFSET <= days < DATE_EPOCH_OFFSET:
        raise CQLTypeError(f"Input date {text} is less than min supported date or greater than max")
    return days


def format_date_days(days: int) -> str:
    y, mo, d = civil_from_days(days)
    if not 0 <= y <= 9999:
        return str(days + DATE_EPOCH_OFFSET)
    return f"{y:04d}-{mo:02d}-{d:02d}"


def parse_time_ns(text: str) -> int:
    """'HH:MM:SS[.fffffffff]' or an integer string of nanoseconds -> ns since midnight."""
    s = text.strip()
    if _INTEGER.match(s):
        v = int(s)
    else:
        m = _TIME.match(s)
        if not m:
            raise CQLTypeError(f"Timestamp format must be hh:mm:ss[.fffffffff], got '{text}'")
        h, mi, sec = int(m["h"]), int(m["m"]), int(m["s"])
        if h > 23:
            raise CQLTypeError(f"Hour out of bounds in '{text}'")
        if mi > 59:
            raise CQLTypeError(f"Minute out of bounds in '{text}'")
        if sec > 59:
            raise CQLTypeError(f"Second out of bounds in '{text}'")
        v = ((h * 60 + mi) * 60 + sec) * 1_000_000_000 + int((m["f"] or "").ljust(9, "0"))
    if not 0 <= v < NANOS_PER_DAY:
        raise CQLTypeError(f"Input long out of bounds: {text}")
    return v


def format_time_ns(ns: int) -> str:
    secs, nanos = divmod(ns, 1_000_000_000)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}.{nanos:09d}"


def parse_duration(text: str) -> Duration:
    """'1h30m', '-3d', 'P1DT2H', 'P2W', 'P0001-02-03T04:05:06' -> Duration."""
    s = text.strip()
    neg = s.startswith("-")
    body = s[1:] if neg else s
    if not body:
        raise CQLTypeError(f"Unable to convert '{text}' to a duration")
    months = days = nanos = 0
    if body[0] in "Pp":
        up = body.upper()
        if m := _ISO_WEEKS.match(up):
            days = int(m["w"]) * 7
        elif (m := _ISO_DURATION.match(up)) and up not in ("P", "PT") and not up.endswith("T"):
            months = int(m["y"] or 0) * 12 + int(m["mo"] or 0)
            days = int(m["d"] or 0)
            nanos = (int(m["h"] or 0) * 3600 + int(m["mi"] or 0) * 60 + int(m["s"] or 0)) * 10**9
        elif m := _ISO_ALT.match(up):
            months = int(m["y"]) * 12 + int(m["mo"])
            days = int(m["d"])
            nanos = (int(m["h"]) * 3600 + int(m["mi"]) * 60 + int(m["s"])) * 10**9
        else:
            raise CQLTypeError(f"Unable to convert '{text}' to a duration")
    else:
        pos = 0
        last = -1
        for m in _DURATION_UNITS.finditer(body):
            unit = m.group(2).lower()
            idx = _UNIT_ORDER.index("us" if unit == "µs" else unit)
            if m.start() != pos or idx <= last:
                raise CQLTypeError(f"Unable to convert '{text}' to a duration")
            last, pos = idx, m.end()
            n = int(m.group(1))
            if unit == "y":
                months += 12 * n
            elif unit == "mo":
                months += n
            elif unit == "w":
                days += 7 * n
            elif unit == "d":
                days += n
            else:
                nanos += n * _NS[unit]
        if pos != len(body) or last < 0:
            raise CQLTypeError(f"Unable to convert '{text}' to a duration")
    if months >= 1 << 31 or days >= 1 << 31 or nanos >= 1 << 63:
        raise CQLTypeError(f"Invalid duration. The total number of months, days or nanoseconds "
                           f"must be within range, got '{text}'")
    if neg:
        return Duration(-months, -days, -nanos)
    return Duration(months, days, nanos)


def format_duration(d: Duration) -> str:
    """Cassandra's Duration.toString: '-1y2mo3d4h5m6s7ms8us9ns' ('0s' for zero)."""
    months, days, nanos = d.months, d.days, d.nanoseconds
    neg = months < 0 or days < 0 or nanos < 0
    months, days, nanos = abs(months), abs(days), abs(nanos)
    out = ["-"] if neg else []
    y, mo = divmod(months, 12)
    for n, u in ((y, "y"), (mo, "mo"), (days, "d")):
        if n:
            out.append(f"{n}{u}")
    for u in ("h", "m", "s", "ms", "us", "ns"):
        n, nanos = divmod(nanos, _NS[u])
        if n:
            out.append(f"{n}{u}")
    if len(out) == (1 if neg else 0):
        return "0s"
    return "".join(out)
