"""Time expressions in questions ("last quarter", "Q4 2025", "2025 vs 2024", "since March") mapped
to the periods and time grains the query path accepts (see semantic/period.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = r"(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")"
_GRAINS = [
    (r"\b(?:by|per|each|every) (day|week|month|quarter|year)\b", None),
    (r"\bdaily\b", "day"),
    (r"\bweekly\b", "week"),
    (r"\bmonthly\b|\bmonth by month\b|\bover time\b|\btrend(?:s|ing)?\b", "month"),
    (r"\bquarterly\b|\bquarter by quarter\b", "quarter"),
    (r"\byearly\b|\bannual(?:ly)?\b|\byear by year\b|\byear over year\b|\byoy\b", "year"),
    (r"\bby fiscal (year|quarter)\b", "fiscal"),
]
_RELATIVE = [
    (r"\b(?:last|previous|prior) quarter\b", "last_quarter"),
    (r"\b(?:this|current) quarter\b|\bqtd\b|\bquarter to date\b", "qtd"),
    (r"\b(?:last|previous|prior) month\b", "last_month"),
    (r"\b(?:this|current) month\b|\bmtd\b|\bmonth to date\b", "mtd"),
    (
        r"\bytd\b|\byear to date\b|\bso far this year\b|\bthis year so far\b"
        r"|\bsince the (?:start|beginning) of (?:the|this) year\b",
        "ytd",
    ),
    (r"\bsince the (?:start|beginning) of (?:the|this) quarter\b", "qtd"),
    (r"\bsince the (?:start|beginning) of (?:the|this) month\b", "mtd"),
    (r"\b(?:this|current) year\b", "this_year"),
    (r"\b(?:last|previous|prior) year\b", "last_year"),
    (r"\byesterday\b", "yesterday"),
    (r"\btoday\b", "today"),
]


@dataclass
class TimeParse:
    """The period and grain found in a question, the periods it compares (if any), and the text spans
    they used."""

    period: str | None = None
    grain: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)
    compare: list[str] = field(default_factory=list)
    named: list[str] = field(default_factory=list)  # every period named, in the order they were found
    where: dict[str, int] = field(default_factory=dict)  # a named period -> where it starts in the text

    def name(self, period: str, at: int) -> None:
        if period not in self.named:
            self.named.append(period)
            self.where[period] = at


# words that set one period against another, wherever the periods are: "2025, and how does that stack up
# against 2024"
_CUE = re.compile(
    r"\b(?:vs\.?|versus|compared?|compares|comparing|comparison|against|stacks? up|relative to"
    r"|(?:better|worse|higher|lower|more|less) or (?:better|worse|higher|lower|more|less) than)\b"
)
_SHAPES = (
    r"qtd|last_quarter",
    r"mtd|last_month",
    r"ytd|this_year|last_year",
    r"20\d\d",
    r"20\d\d-Q[1-4]",
    r"20\d\d-\d\d",
    r"20\d\d-0[17]-01\.\.20\d\d-(?:06-30|12-31)",
)


def _last_completed(month: int, today: date) -> int:
    """The year of the latest `month` that has started by `today`."""
    return today.year if month <= today.month else today.year - 1


def _end(d: date) -> str:
    return (d - timedelta(days=1)).isoformat()


_ORDINAL = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "last": 4}
_YEAR_WORDS = r"(20\d\d|this year|last year|the year before(?: last)?|the previous year|the prior year)"


def _next(unit: str, today: date) -> str:
    """The next calendar month, quarter or year after today's, as a period."""
    months = {"month": 1, "quarter": 3, "year": 12}[unit]
    index = today.year * 12 + (today.month - 1) // months * months + months  # the first month of the next one
    start = date(index // 12, index % 12 + 1, 1)
    end_index = index + months
    return f"{start.isoformat()}..{_end(date(end_index // 12, end_index % 12 + 1, 1))}"


def _year_of(words: str, today: date) -> int:
    """'2025', 'this year', 'last year', 'the year before' (two years back) as a year."""
    if re.fullmatch(r"20\d\d", words):
        return int(words)
    back = {"this year": 0, "last year": 1, "the previous year": 1, "the prior year": 1}
    return today.year - back.get(words, 2)


def _quarter_text(year: int, quarter: int) -> str:
    return f"{year}-Q{quarter}"


def _half(year: int, first: bool) -> str:
    return f"{year}-01-01..{year}-06-30" if first else f"{year}-07-01..{year}-12-31"


def _spoken_numbers(text: str, numbers: dict[tuple[str, ...], int] | None) -> str:
    """'eight weeks' -> '8 weeks' (number words of the lexicon), so one pattern reads both."""
    for words, value in sorted((numbers or {}).items(), key=lambda kv: -len(kv[0])):
        spoken = " ".join(words)  # the number padded with zeros to the words' length keeps every span valid
        text = re.sub(rf"\b{re.escape(spoken)}\b", str(value).zfill(len(spoken)), text)
    return text


def _comparisons(text: str, today: date, found: TimeParse) -> str:
    """Two periods set against each other: 'Q3 this year against Q3 last year', '2025 vs 2024', 'last month
    compared with the same month last year', 'Q4 last year against Q4 the year before'. Returns the text
    with them blanked out (same length, so spans stay valid)."""
    against = r"\s*(?:vs\.?|versus|compared (?:to|with)|against|and|to)\s*"
    quarter = rf"(?:the )?(?:q([1-4])|(first|second|third|fourth|1st|2nd|3rd|4th) quarter)(?: of)? ?{_YEAR_WORDS}"
    other = (
        r"(?:the )?(?:q([1-4]) |(first|second|third|fourth|1st|2nd|3rd|4th) quarter (?:of )?|same quarter (?:of )?)?"
    )
    patterns: list[tuple[str, object]] = [
        (rf"\b{quarter}{against}{other}{_YEAR_WORDS}\b", "quarter"),
        (r"\b(20\d\d)" + against + r"(20\d\d)\b", "year"),
        (
            r"\b(last month|this month)"
            + against
            + r"(?:the )?same month (?:(?:of )?last year|a year (?:ago|before|earlier))",
            "month",
        ),
        (
            r"\b(last quarter|this quarter)"
            + against
            + r"(?:the )?same quarter (?:(?:of )?last year|a year (?:ago|before))",
            "q",
        ),
    ]
    cue = r"\s+(?:vs\.?|versus|compared? (?:to|with)|against)\s+"
    patterns += [
        (  # "Q3 sales compared with Q3 a year earlier": the latest Q3, and the one a year before it
            rf"\bq([1-4])\b(?P<gap>[^.?!;]{{0,40}}?){cue}(?:(?:the )?same quarter|q([1-4])) "
            r"(?:a year (?:earlier|ago|before)|the year before|(?:of )?the previous year|(?:of )?last year)\b",
            "quarter_year_before",
        ),
        (  # "the second half of 2025 versus the same half of 2024"
            rf"\b(?:the )?(first|second|1st|2nd) half (?:of )?(20\d\d)(?P<gap>[^.?!;]{{0,40}}?){cue}"
            r"(?:the )?(?:same half|(first|second|1st|2nd) half) (?:of )?(20\d\d)\b",
            "half",
        ),
    ]
    for pattern, kind in patterns:
        for m in re.finditer(pattern, text):
            if kind == "quarter_year_before":
                q = int(m[1])
                if (m[3] and int(m[3]) != q) or m.group().endswith("last year"):
                    continue  # "Q3 against Q3 last year": read below, Q3 being this year's
                year = _last_completed(3 * q, today) if 3 * q - 2 <= today.month else today.year - 1
                periods = [_quarter_text(year, q), _quarter_text(year - 1, q)]
            elif kind == "half":
                first = m[1] in ("first", "1st")
                second = first if m[4] is None else m[4] in ("first", "1st")
                periods = [_half(int(m[2]), first), _half(int(m[5]), second)]
            elif kind == "quarter":
                q1 = int(m[1]) if m[1] else _ORDINAL[m[2]]
                q2 = int(m[4]) if m[4] else (_ORDINAL[m[5]] if m[5] else q1)
                periods = [_quarter_text(_year_of(m[3], today), q1), _quarter_text(_year_of(m[6], today), q2)]
            elif kind == "year":
                periods = [m[1], m[2]]
            elif kind == "month":
                start = date(today.year, today.month, 1)
                if m[1] == "last month":
                    start = date(start.year - (start.month == 1), (start.month - 2) % 12 + 1, 1)
                periods = [f"{start.year}-{start.month:02d}", f"{start.year - 1}-{start.month:02d}"]
            else:
                index = today.year * 4 + (today.month - 1) // 3 - (m[1] == "last quarter")
                periods = [_quarter_text(index // 4, index % 4 + 1), _quarter_text(index // 4 - 1, index % 4 + 1)]
            found.compare = periods
            taken = [m.span()]
            if "gap" in m.groupdict():  # the words between the two periods stay: "Q3 sales compared with ..."
                taken = [(m.start(), m.start("gap")), (m.end("gap"), m.end())]
            for a, b in taken:
                found.spans.append((a, b))
                text = text[:a] + " " * (b - a) + text[b:]
            return text
    return text


_AGAINST_SAME_MONTH = (
    r"(?:vs\.?|versus|compared? (?:to|with)|against)\s+(?:the )?same month "
    r"(?:(?:of )?last year|a year (?:ago|before|earlier))"
)
_MONTH_THEN_YEAR = re.compile(
    rf"\b{_MONTH}(?:'s)?(?=(?:\s+(?!{_MONTH[1:-1]}\b)[a-z]+){{0,3}}?\s+((?:of\s+)?(this|last|previous|prior) year)\b)"
)
_MONTH_THEN_SAME = re.compile(rf"\b{_MONTH}(?:'s)?\b(?=[^.?!;]{{0,40}}?\b({_AGAINST_SAME_MONTH}))")


def _month_of_year(text: str, today: date, found: TimeParse) -> str:
    """A month and, a few words on, the year it is of ("January's revenue this year", "January of last year"),
    or the same month a year before it is set against ("February's output against the same month last
    year"). The month and the year words are taken, the words between stay; returns the text with what was
    taken blanked out (same length, so spans stay valid)."""
    spans: list[tuple[int, int]] = []
    for m in _MONTH_THEN_SAME.finditer(text):
        month = MONTHS[m[1]]
        year = _last_completed(month, today)
        found.compare = found.compare or [f"{year}-{month:02d}", f"{year - 1}-{month:02d}"]
        spans += [m.span(), m.span(2)]
    for m in _MONTH_THEN_YEAR.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        period = f"{today.year - (m[3] != 'this')}-{MONTHS[m[1]]:02d}"
        found.name(period, m.start())
        if found.period is None:
            found.period = period
        spans += [m.span(), m.span(2)]
    found.spans += spans
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def parse_time(text: str, today: date, numbers: dict[tuple[str, ...], int] | None = None) -> TimeParse:
    """Find one period and one grain in lower-case `text` (or two periods compared); first match of the
    most specific kind wins."""
    found = TimeParse()
    spoken = _spoken_numbers(text, numbers)
    if len(spoken) == len(text):  # spans must stay valid in the caller's text
        text = spoken
    text = _comparisons(text, today, found)
    for m in re.finditer(
        rf"\b(?:the )?(first|second|third|fourth|1st|2nd|3rd|4th|last) quarter (?:of )?{_YEAR_WORDS}\b", text
    ):
        found.spans.append(m.span())
        found.name(_quarter_text(_year_of(m[2], today), _ORDINAL[m[1]]), m.start())
        if found.period is None:
            found.period = _quarter_text(_year_of(m[2], today), _ORDINAL[m[1]])
    for m in re.finditer(rf"\bq([1-4]) (?:of )?{_YEAR_WORDS}\b", text):
        found.spans.append(m.span())
        found.name(_quarter_text(_year_of(m[2], today), int(m[1])), m.start())
        if found.period is None:
            found.period = _quarter_text(_year_of(m[2], today), int(m[1]))
    for m in re.finditer(
        rf"\b(?:the )?(first|second|1st|2nd) half (?:of )?{_YEAR_WORDS}\b|\bh([12]) {_YEAR_WORDS}\b", text
    ):
        found.spans.append(m.span())
        half = 1 if (m[1] in ("first", "1st") or m[3] == "1") else 2
        year = _year_of(m[2] or m[4], today)
        start = date(year, 1 if half == 1 else 7, 1)
        end = date(year, 7, 1) if half == 1 else date(year + 1, 1, 1)
        found.name(f"{start.isoformat()}..{_end(end)}", m.start())
        if found.period is None:
            found.period = f"{start.isoformat()}..{_end(end)}"

    def take(m: re.Match[str], period: str | None = None, grain: str | None = None) -> None:
        found.spans.append(m.span())
        if period is not None:
            found.name(period, m.start())
        if period is not None and found.period is None:
            found.period = period
        if grain is not None and found.grain is None:
            found.grain = grain

    for m in re.finditer(r"\b(20\d\d)\s*(?:vs\.?|versus|compared (?:to|with)|against|and)\s*(20\d\d)\b", text):
        a, b = sorted((int(m[1]), int(m[2])))
        take(m, f"{a}-01-01..{b}-12-31", "year")
    for m in re.finditer(r"\bq([1-4])\s*(?:of\s*)?(20\d\d)\b|\b(20\d\d)\s*-?\s*q([1-4])\b", text):
        q_text, y_text = (m[1], m[2]) if m[1] else (m[4], m[3])
        take(m, f"{y_text}-Q{q_text}")
    for m in re.finditer(r"\b(?:h([12])|(first|second) half(?: of)?)\s*(20\d\d)\b", text):
        half = 1 if (m[1] == "1" or m[2] == "first") else 2
        start = date(int(m[3]), 1 if half == 1 else 7, 1)
        end = date(int(m[3]), 7, 1) if half == 1 else date(int(m[3]) + 1, 1, 1)
        take(m, f"{start.isoformat()}..{_end(end)}")
    for m in re.finditer(
        rf"\b(?:between|from) {_MONTH} (?:and|to|through|until) {_MONTH}(?: (?:of )?{_YEAR_WORDS})?\b", text
    ):
        first, last = MONTHS[m[1]], MONTHS[m[2]]  # "between April and June this year"
        if first <= last:
            year = _year_of(m[3], today) if m[3] else _last_completed(last, today)
            end = date(year + (last == 12), last % 12 + 1, 1)
            take(m, f"{date(year, first, 1).isoformat()}..{_end(end)}")
    for m in re.finditer(rf"\bsince {_MONTH}(?:\s+(20\d\d))?\b", text):
        month = MONTHS[m[1]]
        year = int(m[2]) if m[2] else _last_completed(month, today)
        take(m, f"{date(year, month, 1).isoformat()}..{today.isoformat()}")
    for m in re.finditer(r"\b(?:since|after) (20\d\d)\b", text):
        first = int(m[1]) + (m.group().startswith("after"))
        take(m, f"{first}-01-01..{today.isoformat()}")
    for m in re.finditer(r"\bbefore ((?:19|20)\d\d)\b", text):
        take(m, f"1900-01-01..{int(m[1]) - 1}-12-31")
    for m in re.finditer(rf"\b{_MONTH}\s+(20\d\d)\b", text):
        take(m, f"{m[2]}-{MONTHS[m[1]]:02d}")
    text = _month_of_year(text, today, found)
    for m in re.finditer(r"\b(?:last|past|previous) (\d+) (day|week|month)s?\b", text):
        take(m, f"last_{int(m[1])}_{m[2]}s")
    for m in re.finditer(r"\b(?:last|past|previous) (\d+) (quarter|year)s?\b", text):
        n = int(m[1])  # the last n complete quarters or years
        if m[2] == "quarter" and 0 < n <= 40:
            index = today.year * 4 + (today.month - 1) // 3 - 1
            first = index - n + 1
            end = date((index + 1) // 4, ((index + 1) % 4) * 3 + 1, 1)
            take(m, f"{date(first // 4, (first % 4) * 3 + 1, 1).isoformat()}..{_end(end)}")
        elif m[2] == "year" and 0 < n <= 20:
            take(m, f"{today.year - n}-01-01..{today.year - 1}-12-31")
    for m in re.finditer(r"\b(?:last|past) (week|twelve months|year)\b", text):
        if m[1] == "week":
            take(m, "last_7_days")
        elif m[1] == "twelve months":
            take(m, "last_12_months")
    for pattern, period in _RELATIVE:
        for m in re.finditer(pattern, text):
            take(m, period)
    for m in re.finditer(r"\b(?:next|the coming) (month|quarter|year)\b", text):  # what is expected (a pipeline)
        take(m, _next(m[1], today))
    for m in re.finditer(r"\bq([1-4])\b", text):
        quarter = int(m[1])
        year = _last_completed(3 * quarter, today) if 3 * quarter - 2 <= today.month else today.year - 1
        take(m, f"{year}-Q{quarter}")
    for m in re.finditer(rf"\b(?:in|for|during) {_MONTH}\b", text):
        month = MONTHS[m[1]]
        take(m, f"{_last_completed(month, today)}-{month:02d}")
    for m in re.finditer(r"\b(20\d\d)\b", text):
        if not any(s <= m.start() < e for s, e in found.spans):
            take(m, m[1])
    if not found.compare and (cue := _CUE.search(text)):
        for shape in _SHAPES:  # two periods of one kind named apart, and set against each other, as written
            alike = sorted((p for p in found.named if re.fullmatch(shape, p)), key=found.where.__getitem__)
            if len(alike) == 2:
                found.compare, found.period = alike, None
                found.spans.append(cue.span())
                break
    for pattern, grain in _GRAINS:
        for m in re.finditer(pattern, text):
            if grain == "fiscal":
                take(m, grain=f"fiscal_{m[1]}")
            else:
                take(m, grain=grain or m[1])
    return found
