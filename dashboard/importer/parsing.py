"""Text cells → typed columns, vectorised: dates, numbers, whole numbers and yes/no flags.

Each parser returns the typed series and the mask of cells that had a value but did not parse, so
the caller can name the rows. Formats are decided from the data, not assumed: a date column is
read as ISO, D/M/Y or M/D/Y (whichever reads every value; ambiguity is reported), Excel serial
numbers are recognised, and numbers may carry currency symbols and thousands separators.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from dashboard.importer.vocabulary import NO_RATING_WORDS, RATING_WORDS

ISO_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y%m%d",
]
_TIME_SUFFIXES = ["", " %H:%M", " %H:%M:%S", " %I:%M %p", " %I:%M:%S %p"]
DMY_FORMATS = [f"%d{s}%m{s}%Y{t}" for s in "/.-" for t in _TIME_SUFFIXES] + ["%d/%m/%y"]
MDY_FORMATS = [f"%m{s}%d{s}%Y{t}" for s in "/.-" for t in _TIME_SUFFIXES] + ["%m/%d/%y"]
TEXT_FORMATS = ["%d %b %Y", "%b %d, %Y", "%d %B %Y", "%B %d, %Y", "%d-%b-%Y", "%d-%b-%y"]
# A time followed by a UTC offset or Z ("10:00:00+03:30", "22:00-05:00", "08:26Z"): only after a
# time, so the year of "31-01-2024" is never taken for an offset.
TIME_OFFSET = r"(\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2})$"
EXCEL_EPOCH = pl.datetime(1899, 12, 30)
EXCEL_SERIAL_RANGE = (10_000, 80_000)  # 1927 … 2119: plausible business dates only
SAMPLE = 2_000

CURRENCY_CHARS = "$€£¥₹₽₺₩﷼¢"
CURRENCY_WORDS = r"R\$|A\$|C\$|US\$|ریال|تومان"
CURRENCY_CODES = r"(?i)\b(USD|EUR|GBP|JPY|INR|IRR|IRT|AED|SAR|CAD|AUD|CHF|SEK|NOK|DKK|BRL)\b"
# Symbols and codes that name one currency; "$" alone is read as USD only when nothing else is found.
CURRENCY_SIGNS = {
    "R$": "BRL", "A$": "AUD", "C$": "CAD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY",
    "₹": "INR", "₽": "RUB", "₺": "TRY", "₩": "KRW", "﷼": "IRR", "ریال": "IRR", "تومان": "IRT",
}  # fmt: skip
TRUE_WORDS = {"yes", "y", "true", "t", "1", "churned", "lost", "cancelled", "canceled", "left"}
FALSE_WORDS = {"no", "n", "false", "f", "0", "active", "retained", "stayed", "current"}


@dataclass
class Parsed:
    values: pl.Series
    bad: pl.Series  # bool: had a value, did not parse
    detail: str = ""  # the format chosen, e.g. "D/M/Y"
    ambiguous: bool = False
    note: str = ""  # a doubt about the whole column worth a warning
    info: str = ""  # a conversion worth telling


def clean_text(s: pl.Series) -> pl.Series:
    """Strip blanks; empty cells and common null markers become null."""
    if s.dtype != pl.String:
        s = s.cast(pl.String)
    s = s.str.strip_chars()
    return s.set(s.is_in(["", "NULL", "null", "NaN", "nan", "N/A", "n/a", "#N/A", "-"]), None)


# Persian (۰–۹) and Arabic-Indic (٠–٩) digits, and the Arabic thousands separator and decimal
# sign, as an Iranian or Arab system writes numbers, dates and ids. The two signs cannot be taken
# for each other, so the thousands separator goes (unlike a "," it is never a decimal comma).
NATIVE_DIGITS = [*"۰۱۲۳۴۵۶۷۸۹", *"٠١٢٣٤٥٦٧٨٩", "٬", "٫"]
ASCII_DIGITS = [*"0123456789", *"0123456789", "", "."]


def ascii_digits(text: pl.Series) -> pl.Series:
    """Text with native digits written as ASCII digits ("۱۲۳٬۴۵۶٫۵" → "123456.5"), so that it
    parses as a number or date and an id matches the same id written in ASCII elsewhere."""
    if text.dtype != pl.String or not text.str.contains("[۰-۹٠-٩٬٫]").any():
        return text
    return text.str.replace_many(NATIVE_DIGITS, ASCII_DIGITS)


EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def clean_id(s: pl.Series) -> pl.Series:
    """Ids as text. Spreadsheets and pandas exports write whole-number ids as floats ("17850.0");
    when every id of a column looks like that, the ".0" goes, so they match the same ids elsewhere.
    An id that is an email address is lower-cased: "Ann@Shop.com" on an order and "ann@shop.com"
    in the customers export are one person (other ids keep their case: Salesforce's differ by it)."""
    if s.dtype.is_float():
        whole = s.is_null() | (s == s.round())
        if whole.all():
            return s.cast(pl.Int64).cast(pl.String).alias(s.name)
    text = ascii_digits(clean_text(s))
    floaty = text.str.contains(r"^-?\d+\.0+$")
    if text.null_count() < len(text) and floaty.fill_null(True).all():
        text = text.str.replace(r"\.0+$", "")
    email = text.str.contains(EMAIL).fill_null(False)
    if email.any():
        text = text.str.to_lowercase().zip_with(email, text)
    return text


def detect_currency(s: pl.Series) -> set[str]:
    """The currencies a money column's cells name by symbol or ISO code (empty when none)."""
    if s.dtype != pl.String:
        return set()
    text = s.drop_nulls().head(SAMPLE * 10)
    found = set()
    rest = text
    for sign, code in CURRENCY_SIGNS.items():
        if rest.str.contains(sign, literal=True).any():
            found.add(code)
            rest = rest.str.replace_all(sign, "", literal=True)
    codes = text.str.extract_all(CURRENCY_CODES).explode().drop_nulls().str.to_uppercase()
    found |= set(codes.unique().to_list())
    if not found and rest.str.contains("$", literal=True).any():
        found.add("USD")
    return found


def parse_datetime(s: pl.Series, *, prefer_dmy: bool = False, time_zone: str = "UTC") -> Parsed:
    """Text or typed cells → naive datetimes on the dataset's clock (`time_zone`). One rule for
    every source: a value that is an instant (a time-zone-aware column, a time with a UTC offset)
    becomes the wall-clock time in `time_zone`; a time without an offset is taken as it reads."""
    if s.dtype.is_temporal():
        if isinstance(s.dtype, pl.Datetime) and s.dtype.time_zone:  # an instant
            s = s.dt.convert_time_zone(time_zone).dt.replace_time_zone(None)
        values = s.cast(pl.Datetime("us"))
        return Parsed(values, pl.Series([False] * len(s)), "typed")
    text = ascii_digits(clean_text(s))
    present = text.is_not_null()
    uniques = text.drop_nulls().unique()
    if uniques.len() == 0:  # an empty column: nothing to read, nothing wrong
        return Parsed(pl.Series(s.name, [None] * len(s), pl.Datetime("us")), present)
    numeric = uniques.cast(pl.Float64, strict=False)
    lo, hi = EXCEL_SERIAL_RANGE
    if numeric.is_not_null().all() and numeric.min() >= lo and numeric.max() <= hi:
        days = text.cast(pl.Float64, strict=False)
        values = (
            pl.select(
                EXCEL_EPOCH
                + pl.duration(microseconds=(pl.lit(days) * 86_400_000_000).round().cast(pl.Int64))
            )
            .to_series()
            .cast(pl.Datetime("us"))
            .alias(s.name)
        )
        return Parsed(values, present & values.is_null(), "Excel serial numbers")

    if uniques.str.contains(JALALI).all():
        return _parse_jalali(text, s.name)
    sample = uniques.head(SAMPLE)
    tz_free = sample.str.replace(TIME_OFFSET, "$1")

    def score(fmt: str) -> int:
        return tz_free.str.to_datetime(fmt, strict=False).is_not_null().sum()

    candidates = {
        "ISO": ISO_FORMATS,
        "D/M/Y": DMY_FORMATS,
        "M/D/Y": MDY_FORMATS,
        "text": TEXT_FORMATS,
    }
    best: dict[str, tuple[int, str]] = {}
    for family, formats in candidates.items():
        scored = max(((score(f), f) for f in formats), key=lambda x: x[0])
        best[family] = scored
    dmy, mdy = best["D/M/Y"][0], best["M/D/Y"][0]
    ambiguous = dmy == mdy == len(sample) and dmy > 0
    order = ["ISO", "D/M/Y", "M/D/Y", "text"] if prefer_dmy else ["ISO", "M/D/Y", "D/M/Y", "text"]
    family = max(order, key=lambda f: (best[f][0], -order.index(f)))
    chosen_formats = [best[family][1]]
    # Within one family exports mix "with time" and "date only" cells: accept every format of the
    # family that reads some cells, most successful first (still never D/M/Y mixed with M/D/Y).
    others = sorted(
        (f for f in candidates[family] if f != chosen_formats[0] and score(f) > 0),
        key=score,
        reverse=True,
    )
    chosen_formats += others[:3]
    full = text.str.replace(TIME_OFFSET, "$1")
    values = (
        pl.select(
            pl.coalesce(
                [
                    pl.lit(full).str.to_datetime(f, strict=False, time_unit="us")
                    for f in chosen_formats
                ]
            )
        )
        .to_series()
        .alias(s.name)
    )
    bad = present & values.is_null()
    offsets = _offset_minutes(text)
    info = ""
    if offsets.is_not_null().any():
        # A time with a UTC offset is an instant: it becomes UTC, whatever the file format, as a
        # time-zone-aware Parquet or SQL column does.
        utc = pl.lit(values) - pl.duration(minutes=pl.lit(offsets).fill_null(0))
        local = utc.dt.replace_time_zone("UTC").dt.convert_time_zone(time_zone).dt.replace_time_zone(None)
        values = pl.select(pl.when(pl.lit(offsets).is_not_null()).then(local).otherwise(pl.lit(values))).to_series().alias(s.name)
        info = f"{offsets.is_not_null().sum():,} times with a UTC offset were converted to {time_zone} time"
    return Parsed(values, bad, family, ambiguous, info=info)


def _offset_minutes(text: pl.Series) -> pl.Series:
    """Minutes east of UTC of each cell that ends in a time with an offset (Z = 0), else null."""
    parts = text.str.extract_groups(TIME_OFFSET)
    zone = parts.struct.field("2")
    sign = pl.select(pl.when(pl.lit(zone).str.starts_with("-")).then(-1).otherwise(1)).to_series()
    digits = zone.str.replace_all(r"[^0-9]", "")
    hours = digits.str.slice(0, 2).cast(pl.Int64, strict=False).fill_null(0)
    minutes = digits.str.slice(2, 2).cast(pl.Int64, strict=False).fill_null(0)
    total = sign * (hours * 60 + minutes)
    return total.set(zone.is_null(), None)


# A Solar Hijri (Jalali) date as Iranian systems write it: year 1300–1499, then month and day
# ("1402/01/15", "1402-1-15 14:30"). No Gregorian date of a CRM falls in those years.
JALALI = r"^(1[34]\d\d)[/-](\d{1,2})[/-](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$"


def _parse_jalali(text: pl.Series, name: str) -> Parsed:
    """Jalali dates (and times) → Gregorian datetimes. Each distinct date is converted once by
    jdatetime; a date the Jalali calendar does not have (1402/12/30) is a bad value."""
    import jdatetime

    parts = text.str.extract_groups(JALALI).struct.unnest().cast(pl.Int32, strict=False)
    parts.columns = ["y", "m", "d", "H", "M", "S"]
    days = parts.select("y", "m", "d").drop_nulls().unique(maintain_order=True)

    def gregorian(y: int, m: int, d: int):
        try:
            return jdatetime.date(y, m, d).togregorian()
        except ValueError:
            return None

    known = days.with_columns(
        pl.Series("day", [gregorian(*row) for row in days.iter_rows()], pl.Date)
    )
    joined = parts.join(known, on=["y", "m", "d"], how="left", maintain_order="left")
    values = joined.select(
        pl.col("day").cast(pl.Datetime("us"))
        + pl.duration(hours=pl.col("H").fill_null(0), minutes=pl.col("M").fill_null(0), seconds=pl.col("S").fill_null(0))
    ).to_series().alias(name)
    info = "dates of the Solar Hijri (Jalali) calendar, converted to Gregorian"
    converted = known.drop_nulls("day")
    if converted.height:
        y, m, d, day = converted.row(0)
        info += f" (e.g. {y}/{m:02d}/{d:02d} → {day:%Y-%m-%d})"
    return Parsed(values, text.is_not_null() & values.is_null(), "Jalali", info=info)


def parse_date(s: pl.Series, *, prefer_dmy: bool = False, time_zone: str = "UTC") -> Parsed:
    p = parse_datetime(s, prefer_dmy=prefer_dmy, time_zone=time_zone)
    return Parsed(p.values.dt.date(), p.bad, p.detail, p.ambiguous, info=p.info)


def parse_number(s: pl.Series) -> Parsed:
    if s.dtype.is_numeric():
        return Parsed(s.cast(pl.Float64), pl.Series([False] * len(s)), "typed")
    text = ascii_digits(clean_text(s))
    present = text.is_not_null()
    t = text.str.replace_all(CURRENCY_CODES, "").str.replace_all(CURRENCY_WORDS, "").str.replace_all(
        f"[{CURRENCY_CHARS}\\s\u00a0\u202f']", ""
    )
    negative = t.str.contains(r"^\(.*\)$") | t.str.ends_with("-")
    t = t.str.replace_all(r"^\((.*)\)$", "$1").str.replace(r"-$", "")
    # Decimal comma or point, decided from every value of the column: "12,5" or "1.234,56" say
    # comma, "5.5" or "1,234.56" say point; "1.250" alone could be either (reported).
    comma = t.str.contains(r"^-?\d+,\d{1,2}$|^-?\d+,\d{4,}$|\d\.\d{3},\d").any()
    point = t.str.contains(r"^-?\d+\.\d{1,2}$|^-?\d+\.\d{4,}$|\d,\d{3}\.\d").any()
    note = ""
    if comma and point:
        note = "has both decimal commas and decimal points; read with decimal points"
    elif not comma and not point and t.str.contains(r"^-?\d{1,3}([.,]\d{3})+$").any():
        example = text.filter(t.str.contains(r"^-?\d{1,3}([.,]\d{3})+$").fill_null(False))[0]
        note = (
            f"values like {example!r} could be thousands or decimals; read with a decimal point "
            "and comma thousands"
        )
    if comma and not point:
        t = t.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
        detail = "decimal comma"
    else:
        t = t.str.replace_all(r"(\d),(\d{3})", "$1$2").str.replace_all(r"(\d),(\d{3})", "$1$2")
        detail = "decimal point"
    values = t.cast(pl.Float64, strict=False)
    values = pl.select(
        pl.when(pl.lit(negative)).then(-pl.lit(values)).otherwise(pl.lit(values))
    ).to_series()
    values = values.set(values.is_infinite() | values.is_nan(), None).alias(s.name)
    return Parsed(values, present & values.is_null(), detail, note=note)


def parse_integer(s: pl.Series) -> Parsed:
    p = parse_number(s)
    whole = p.values.is_null() | (p.values == p.values.round())
    values = p.values.set(~whole, None)
    return Parsed(values.cast(pl.Int64), p.bad | ~whole, p.detail, note=p.note)


def parse_rating(s: pl.Series) -> Parsed:
    """A 1–5 rating: numbers, or words (RATING_WORDS: Good → 5, Bad → 1) with the words for a
    rating asked but not given (NO_RATING_WORDS) left empty."""
    if s.dtype != pl.String:
        return parse_integer(s)
    written = clean_text(s)  # the file's own spelling, for the note
    text = written.str.to_lowercase()
    if not text.is_in(list(RATING_WORDS) + list(NO_RATING_WORDS)).any():
        return parse_integer(s)
    words = text.replace_strict(RATING_WORDS, default=None, return_dtype=pl.Int64)
    unanswered = text.is_in(list(NO_RATING_WORDS))
    rest = parse_integer(s.set(words.is_not_null() | unanswered, None))
    values = pl.select(pl.coalesce(pl.lit(words), pl.lit(rest.values))).to_series().alias(s.name)

    def spelled(mask: pl.Series) -> list[str]:
        return sorted(set(written.filter(mask).to_list()))

    info = ", ".join(f"{w!r} read as {RATING_WORDS[w.lower()]}" for w in spelled(words.is_not_null()))
    if unanswered.any():
        info += "; " + " and ".join(map(repr, spelled(unanswered))) + " are no answer"
    return Parsed(values, rest.bad, rest.detail, note=rest.note, info=info)


def parse_flag(s: pl.Series) -> Parsed:
    """Yes/No, True/False, 1/0, Churned/Active → bool."""
    if s.dtype == pl.Boolean:
        return Parsed(s, pl.Series([False] * len(s)))
    text = clean_text(s).str.to_lowercase()
    values = (
        pl.select(
            pl.when(pl.lit(text).is_in(list(TRUE_WORDS)))
            .then(True)
            .when(pl.lit(text).is_in(list(FALSE_WORDS)))
            .then(False)
            .otherwise(None)
        )
        .to_series()
        .alias(s.name)
    )
    return Parsed(values, text.is_not_null() & values.is_null())
