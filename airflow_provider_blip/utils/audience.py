"""Read an audience (who gets a message) row by row, normalizing and deduplicating numbers.

An audience is either an iterable of dicts (for example an upstream task's XCom) or a CSV file
given by path or URL (``/data/clientes.csv``, ``file:///...``, ``s3://...``, ``gs://...``),
read through Airflow's ``ObjectStoragePath`` one row at a time: a million-row file costs the
memory of one row plus one int per distinct number.

CSV details: UTF-8 with or without a BOM (Excel writes one); comma, semicolon or tab as the
delimiter, detected from the header line (Excel in Brazilian Portuguese writes ``;``);
surrounding spaces are stripped from column names.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias
from urllib.parse import unquote, urlsplit

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.phone import InvalidPhoneNumber, check_region, dedupe_key, parse_phone
from airflow_provider_blip.utils.results import RecipientStatus

AudienceSource: TypeAlias = "str | os.PathLike[str] | Iterable[Mapping[str, object]]"

_DELIMITERS = (",", ";", "\t")


@dataclasses.dataclass(frozen=True)
class Recipient:
    """A row of the audience with a valid number seen for the first time.

    :param row: 1-based data row number (a CSV header is not counted).
    :param phone: the number in E.164 form.
    :param values: every other column as a string (``""`` for missing cells).
    """

    row: int
    phone: str
    values: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A row of the audience that will not be sent to.

    :param row: 1-based data row number (a CSV header is not counted).
    :param raw_phone: the number as given; mask it before logging it.
    :param status: ``"invalid_number"`` or ``"duplicate"``.
    :param reason: why, e.g. ``"too short"`` or ``"same number as row 3"``.
    """

    row: int
    raw_phone: str
    status: str
    reason: str


def _url(source: str | os.PathLike[str]) -> str:
    text = os.fspath(source).strip()
    parts = urlsplit(text)
    if parts.scheme.lower() == "file" and parts.netloc in ("", "localhost"):
        # A file URL is percent-encoded (RFC 8089, `Path.as_uri()`), but fsspec opens the
        # path as written: decode it, or `audiência 1.csv` would not be found.
        return "file://" + unquote(parts.path)
    # A one-letter "scheme" is a Windows drive (C:\...), not a URL.
    if len(parts.scheme) > 1:
        return text
    return "file://" + os.path.abspath(os.path.expanduser(text))


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(source: str | os.PathLike[str], require: str | None) -> Iterator[tuple[int, dict[str, object]]]:
    # Imported here: object storage pulls in fsspec, which list audiences never need.
    from airflow.sdk import ObjectStoragePath

    url = _url(source)
    try:
        handle = ObjectStoragePath(url).open("r", encoding="utf-8-sig", newline="")
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"audience file {os.fspath(source)!r} not found") from exc
    with handle:
        header_line = handle.readline()
        # Give the header line back to the reader: the file is only ever read forward.
        reader = csv.DictReader(itertools.chain([header_line], handle), delimiter=_delimiter(header_line))
        columns = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = columns
        if require is not None and require not in columns:
            found = ", ".join(repr(c) for c in columns) or "none (the file is empty)"
            raise BlipConfigError(
                f"audience {os.fspath(source)!r} has no {require!r} column (set phone_column); "
                f"columns found: {found}"
            )
        for number, row in enumerate(reader, start=1):
            # A row longer than the header puts its extra cells under the key None: no column
            # name can refer to them, so they are dropped.
            row.pop(None, None)
            yield number, row


def _mapping_rows(source: Iterable[Mapping[str, object]]) -> Iterator[tuple[int, dict[str, object]]]:
    for number, row in enumerate(source, start=1):
        if not isinstance(row, Mapping):
            raise BlipConfigError(
                f"audience row {number} is a {type(row).__name__}, not a mapping of column to value"
            )
        yield number, dict(row)


def _rows(source: AudienceSource, require: str | None) -> Iterator[tuple[int, dict[str, object]]]:
    if isinstance(source, str | os.PathLike):
        return _csv_rows(source, require)
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise BlipConfigError(
            f"an audience must be a CSV path or URL or an iterable of dicts, not a {type(source).__name__}"
        )
    return _mapping_rows(source)


def iter_rows(source: AudienceSource) -> Iterator[tuple[int, dict[str, object]]]:
    """Stream ``(row number, row)`` pairs from an audience, numbering data rows from 1.

    Nothing is opened until the first row is asked for, and the file is closed when the
    iterator is exhausted or closed.

    :param source: an iterable of dicts, or a CSV file path or URL (``/abs/path.csv``,
        ``file:///...``, ``s3://...``, ``gs://...``; relative paths are made absolute).
    :raises FileNotFoundError: when the file does not exist (the message names ``source``).
    """
    return _rows(source, None)


def _cell(value: object) -> str:
    # NaN is how dataframes spell an empty cell; sending "nan" to a customer would be worse
    # than a template refusing the row for a missing value.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _parse_rows(
    rows: Iterator[tuple[int, dict[str, object]]], phone_column: str, region: str
) -> Iterator[Recipient | Rejected]:
    first_row: dict[int, int] = {}  # dedupe key -> row where the number was first seen
    for number, row in rows:
        if phone_column not in row:
            yield Rejected(number, "", RecipientStatus.INVALID_NUMBER.value, f"no {phone_column!r} value")
            continue
        raw = row.pop(phone_column)
        try:
            phone = parse_phone(raw, region)
        except InvalidPhoneNumber as exc:
            yield Rejected(number, _cell(raw), RecipientStatus.INVALID_NUMBER.value, exc.reason)
            continue
        first = first_row.setdefault(dedupe_key(phone), number)
        if first != number:
            yield Rejected(number, _cell(raw), RecipientStatus.DUPLICATE.value, f"same number as row {first}")
            continue
        yield Recipient(number, phone, {str(k): _cell(v) for k, v in row.items()})


def parse_audience(
    source: AudienceSource, *, phone_column: str = "phone", default_region: str = "BR"
) -> Iterator[Recipient | Rejected]:
    """Stream the audience as one :class:`Recipient` or :class:`Rejected` per row, in order.

    A number seen again in any format (``+55 31 98888-7777`` after ``(31) 98888-7777``) is
    rejected as ``duplicate`` naming the row that keeps it; a number that does not parse is
    rejected as ``invalid_number``, and so is a dict row without the phone column. The
    arguments are checked at once; the file is opened when the first row is asked for.

    :param source: see :func:`iter_rows`.
    :param phone_column: the column holding the phone number.
    :param default_region: the region of numbers written without a country code.
    :raises BlipConfigError: when ``default_region`` is unknown, or the CSV has no
        ``phone_column`` (the message lists the columns found).
    :raises FileNotFoundError: when the file does not exist.
    """
    region = check_region(default_region)
    if not isinstance(phone_column, str) or not phone_column.strip():
        raise BlipConfigError(f"phone_column must be a column name, got {phone_column!r}")
    return _parse_rows(_rows(source, phone_column), phone_column, region)
