"""Read an audience (who gets a message) row by row, normalizing and deduplicating numbers.

An audience is an iterable of dicts (for example an upstream task's XCom) or a file given by
path or URL: ``/data/clientes.csv``, ``file:///...``, ``s3://...``, ``gs://...`` (through
Airflow's ``ObjectStoragePath``) or ``https://...`` (downloaded as it is read). Every
source is streamed: a million-row file costs the memory of one row (one row group's batch
for Parquet) plus one int per distinct number.

Formats, chosen by ``format`` or else by the extension (``csv`` when there is none):

- **CSV** (``.csv``, ``.tsv``, ``.txt``): UTF-8 with or without a BOM, or cp1252 (what
  Excel in Brazilian Portuguese writes), told apart from the first 64 KiB unless
  ``encoding`` is given; comma, semicolon or tab as the delimiter, detected from the header
  line, or named by Excel's ``sep=;`` first line.
- **JSON Lines** (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line.
- **Parquet** (``.parquet``, ``.pq``): read one batch of a row group at a time with pyarrow
  (``pip install 'airflow-provider-blip[parquet]'``).

Column names match ``phone_column`` whatever their case and surrounding spaces. A row
that cannot be read (a line that is not JSON, a CSV row with more cells than the header)
is rejected as ``invalid_values`` naming its row; only a file that cannot be read at all
raises :class:`~airflow_provider_blip.exceptions.BlipAudienceError`. No error or reason
quotes a row's content.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import importlib.util
import io
import itertools
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote, urlsplit

from airflow_provider_blip.exceptions import (
    BlipAudienceError,
    BlipConfigError,
    BlipTransportError,
    InvalidPhoneNumber,
)
from airflow_provider_blip.utils.phone import check_region, dedupe_key, parse_phone
from airflow_provider_blip.utils.privacy import mask_identities
from airflow_provider_blip.utils.results import RecipientStatus

if TYPE_CHECKING:
    from collections.abc import Callable

AudienceSource: TypeAlias = "str | os.PathLike[str] | Iterable[Mapping[str, object]]"

_DELIMITERS = (",", ";", "\t")
# Excel's hint line, first in some exports: `sep=;`.
_SEP_LINE = re.compile(r"^\ufeff?sep=(.)\r?\n?$")
#: How much of a text file decides its encoding: enough for thousands of rows.
PREFIX_BYTES = 64 * 1024
# Bytes the codec could not decode come through as lone surrogates (errors="surrogateescape"),
# so the row and column holding them are known exactly, however far into the file they are.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# A header cell with eight digits or more is a phone number: the file has no header line.
_MIN_PHONE_DIGITS = 8
_PARQUET_BATCH_ROWS = 1024
# (connect, read) seconds: the read timeout is per chunk, not for the whole download.
_HTTP_TIMEOUT = (10.0, 60.0)
_DOWNLOAD_CHUNK = 1 << 20
_MAX_LISTED_COLUMNS = 20


class AudienceFormat(StrEnum):
    """The file formats an audience can be read from."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


_FORMAT_NAMES = {
    "csv": AudienceFormat.CSV,
    "tsv": AudienceFormat.CSV,
    "jsonl": AudienceFormat.JSONL,
    "ndjson": AudienceFormat.JSONL,
    "json": AudienceFormat.JSONL,
    "parquet": AudienceFormat.PARQUET,
}
_EXTENSIONS = {
    ".csv": AudienceFormat.CSV,
    ".tsv": AudienceFormat.CSV,
    ".txt": AudienceFormat.CSV,
    ".jsonl": AudienceFormat.JSONL,
    ".ndjson": AudienceFormat.JSONL,
    ".json": AudienceFormat.JSONL,  # BigQuery and Spark name their JSON Lines exports .json
    ".parquet": AudienceFormat.PARQUET,
    ".pq": AudienceFormat.PARQUET,
}


@dataclasses.dataclass(frozen=True)
class Recipient:
    """A row of the audience with a valid number seen for the first time.

    :param row: 1-based data row number (a CSV header is not counted; in JSON Lines, the line).
    :param phone: the number in E.164 form.
    :param values: every other column as a string (``""`` for missing cells).
    """

    row: int
    phone: str
    values: dict[str, str]


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A row of the audience that will not be sent to.

    :param row: 1-based data row number (a CSV header is not counted; in JSON Lines, the line).
    :param raw_phone: the number as given (``""`` when the row could not be read); mask it
        before logging it.
    :param status: ``"invalid_number"``, ``"duplicate"``, or ``"invalid_values"`` for a row
        that could not be read.
    :param reason: why, e.g. ``"too short"``, ``"same number as row 3"`` or
        ``"row 7: not valid JSON (...)"``; never the row's content.
    """

    row: int
    raw_phone: str
    status: str
    reason: str


@dataclasses.dataclass(frozen=True)
class _Malformed:
    """A row the reader could not turn into columns; becomes a :class:`Rejected` row."""

    row: int
    reason: str


_Row: TypeAlias = "tuple[int, dict[str, object]] | _Malformed"


class AudienceStream(Iterator["Recipient | Rejected"]):
    """The rows of :func:`parse_audience` as they are read, with running counts.

    Iterate it once. While it runs, and once it is exhausted, its counts describe every row
    read so far, so a single pass can both process the rows and report on the whole
    audience (how many, how many rejected and why) without reading it a second time.

    :ivar rows: rows read so far.
    :ivar recipients: rows that became a :class:`Recipient`.
    :ivar rejected: rejected rows by status (``invalid_number``, ``duplicate``, ``invalid_values``).
    :ivar finished: True once the last row was read.
    """

    def __init__(self, items: Iterator[Recipient | Rejected]) -> None:
        self._items = items
        self.rows = 0
        self.recipients = 0
        self.rejected: Counter[str] = Counter()
        self.finished = False
        self._closed = False

    def __iter__(self) -> AudienceStream:
        return self

    def __next__(self) -> Recipient | Rejected:
        if self._closed:
            raise StopIteration
        try:
            item = next(self._items)
        except StopIteration:
            self.finished = True
            raise
        self.rows += 1
        if isinstance(item, Rejected):
            self.rejected[item.status] += 1
        else:
            self.recipients += 1
        return item

    def close(self) -> None:
        """Stop reading and close the file (also done when the stream is exhausted)."""
        self._closed = True
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


# --- where the file is and how it is read -----------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _File:
    """An audience file: what to open, how errors name it, and how to read it."""

    url: str
    name: str
    format: AudienceFormat
    encoding: str | None  # a codec name, or None to detect UTF-8 or cp1252

    @property
    def is_http(self) -> bool:
        return urlsplit(self.url).scheme.lower() in ("http", "https")


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


def _display(source: str | os.PathLike[str], url: str) -> str:
    """Name the file in errors: a URL loses its credentials and query string (signed URLs)."""
    parts = urlsplit(url)
    if parts.scheme.lower() == "file":
        return os.fspath(source)
    host = parts.netloc.rpartition("@")[2]  # no user:password@
    query = "?..." if parts.query else ""
    return f"{parts.scheme}://{host}{parts.path}{query}"


def _format(url: str, name: str, format: str | None) -> AudienceFormat:
    if format is not None:
        chosen = _FORMAT_NAMES.get(str(format).strip().lower())
        if chosen is None:
            raise BlipAudienceError(
                f"audience {name!r}: format {format!r} is not one of {', '.join(sorted(_FORMAT_NAMES))}"
            )
        return chosen
    extension = os.path.splitext(unquote(urlsplit(url).path))[1].lower()
    return _EXTENSIONS.get(extension, AudienceFormat.CSV)


def _encoding(name: str, encoding: str | None) -> str | None:
    if encoding is None or (isinstance(encoding, str) and not encoding.strip()):
        return None
    try:
        codec = codecs.lookup(str(encoding).strip()).name
    except LookupError:
        raise BlipAudienceError(
            f"audience {name!r}: encoding {encoding!r} is not a known text encoding "
            "(for example 'utf-8', 'cp1252' or 'latin-1')"
        ) from None
    # Excel writes a BOM in front of UTF-8: read it as such, not as a character of the header.
    return "utf-8-sig" if codec in ("utf-8", "utf-8-sig") else codec


def _file(source: str | os.PathLike[str], encoding: str | None, format: str | None) -> _File:
    url = _url(source)
    name = _display(source, url)
    chosen = _format(url, name, format)
    if chosen is AudienceFormat.PARQUET and importlib.util.find_spec("pyarrow") is None:
        raise BlipAudienceError(
            f"audience {name!r} is Parquet, which needs pyarrow: pip install 'airflow-provider-blip[parquet]'"
        )
    return _File(url=url, name=name, format=chosen, encoding=_encoding(name, encoding))


# --- bytes: object storage or HTTP --------------------------------------------------------------


class _Body(io.RawIOBase):
    """A read-only byte stream from ``read``, its failures turned into provider errors."""

    def __init__(self, read: Callable[[int], bytes], fail: Callable[[Exception], Exception]) -> None:
        self._read = read
        self._fail = fail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._read(len(buffer))
        except Exception as exc:  # urllib3's ProtocolError, ReadTimeoutError, DecodeError...
            raise self._fail(exc) from exc
        buffer[: len(data)] = data
        return len(data)


class _Prefixed(io.RawIOBase):
    """The bytes already read to choose the encoding, then the rest of the stream."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            size = min(len(buffer), len(self._prefix))
            buffer[:size] = self._prefix[:size]
            self._prefix = self._prefix[size:]
            return size
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@contextlib.contextmanager
def _download(file: _File) -> Iterator[IO[bytes]]:
    """Stream an http(s) URL: TLS verified, a timeout on connect and on every read."""
    import requests  # only http(s) audiences need it here

    def failed(exc: Exception) -> Exception:
        return BlipTransportError(
            f"audience {file.name!r}: the download failed ({type(exc).__name__}); retry the task",
            uri=file.name,
        )

    try:
        response = requests.get(file.url, stream=True, timeout=_HTTP_TIMEOUT, verify=True)
    except requests.exceptions.SSLError as exc:
        raise BlipAudienceError(
            f"audience {file.name!r}: the server's TLS certificate could not be verified "
            "(for a private CA, point REQUESTS_CA_BUNDLE at its certificate)"
        ) from exc
    except (requests.exceptions.InvalidURL, requests.exceptions.TooManyRedirects) as exc:
        raise BlipAudienceError(f"audience {file.name!r}: {type(exc).__name__}") from exc
    except requests.RequestException as exc:
        raise failed(exc) from exc
    with response:
        status = response.status_code
        if status in (404, 410):
            raise BlipAudienceError(f"audience {file.name!r} not found (HTTP {status})")
        if status == 429 or status >= 500:
            raise BlipTransportError(
                f"audience {file.name!r}: the server answered HTTP {status}; retry the task", uri=file.name
            )
        if status >= 400:
            hint = (
                " (check the URL's credentials; a signed URL may have expired)"
                if status in (401, 403)
                else ""
            )
            raise BlipAudienceError(f"audience {file.name!r}: the server answered HTTP {status}{hint}")
        response.raw.decode_content = True  # gzip or deflate Content-Encoding
        yield io.BufferedReader(_Body(response.raw.read, failed))


@contextlib.contextmanager
def _stored(file: _File) -> Iterator[IO[bytes]]:
    # Imported here: object storage pulls in fsspec, which list audiences never need.
    from airflow.sdk import ObjectStoragePath

    try:
        handle = ObjectStoragePath(file.url).open("rb")
    except FileNotFoundError:
        raise BlipAudienceError(f"audience file {file.name!r} not found") from None
    except IsADirectoryError:
        raise BlipAudienceError(f"audience {file.name!r} is a directory, not a file") from None
    except PermissionError:
        raise BlipAudienceError(f"audience {file.name!r} cannot be read: permission denied") from None
    except ValueError as exc:  # "No filesystem registered for scheme ..."
        raise BlipAudienceError(f"audience {file.name!r} cannot be opened: {exc}") from exc
    with handle:
        yield handle


def _binary(file: _File) -> contextlib.AbstractContextManager[IO[bytes]]:
    return _download(file) if file.is_http else _stored(file)


@contextlib.contextmanager
def _seekable(file: _File) -> Iterator[IO[bytes]]:
    """Open for random access (Parquet reads its footer first): a download goes to a temp file."""
    if not file.is_http:
        with _stored(file) as handle:
            yield handle
        return
    import shutil
    import tempfile

    with _download(file) as body, tempfile.TemporaryFile(prefix="blip-audience-") as spool:
        shutil.copyfileobj(body, spool, _DOWNLOAD_CHUNK)
        spool.seek(0)
        yield spool


# --- text: the encoding -------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Decoding:
    codec: str
    detected: bool


def _read_prefix(binary: IO[bytes]) -> bytes:
    parts = []
    size = 0
    while size < PREFIX_BYTES:
        data = binary.read(PREFIX_BYTES - size)
        if not data:
            break
        parts.append(data)
        size += len(data)
    return b"".join(parts)


def _detect(prefix: bytes, whole: bool) -> str:
    if prefix.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"  # Excel's "Unicode text" export
    try:
        # final=False when more follows: a character cut at the end of the prefix is fine.
        codecs.getincrementaldecoder("utf-8")().decode(prefix, final=whole)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def _text(binary: IO[bytes], file: _File) -> tuple[io.TextIOWrapper, _Decoding]:
    prefix = _read_prefix(binary)
    if file.encoding is not None:
        decoding = _Decoding(file.encoding, detected=False)
    else:
        decoding = _Decoding(_detect(prefix, whole=len(prefix) < PREFIX_BYTES), detected=True)
    stream = io.BufferedReader(_Prefixed(prefix, binary))
    text = io.TextIOWrapper(stream, encoding=decoding.codec, errors="surrogateescape", newline="")
    return text, decoding


def _undecodable(file: _File, decoding: _Decoding, where: str) -> BlipAudienceError:
    if decoding.detected and decoding.codec == "utf-8-sig":
        hint = (
            f"the first {PREFIX_BYTES // 1024} KiB are UTF-8 but this is not: the file may be in "
            "cp1252 (what Excel in Portuguese writes); set encoding='cp1252'"
        )
    elif decoding.detected:
        hint = f"it is not valid {decoding.codec} either: set encoding to the file's encoding"
    else:
        hint = (
            f"it is not valid {decoding.codec}: set encoding to the file's encoding "
            "(for example 'cp1252' or 'utf-8')"
        )
    return BlipAudienceError(f"audience {file.name!r}: {where} cannot be decoded; {hint}")


# --- rows: the formats --------------------------------------------------------------------------


def _delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _looks_like_data(names: list[str]) -> bool:
    # Digits counted across separators: `+55 31 98888-7777` is a number too.
    return any(sum(ch.isdigit() for ch in name) >= _MIN_PHONE_DIGITS for name in names)


def _columns_found(names: list[str]) -> str:
    if not any(names):
        return "none (the file is empty)"
    if _looks_like_data(names):
        # A headerless file's first line is a row: listing it would print a number.
        return (
            "a column name holds eight digits or more, like a phone number: the file may have no header line"
        )
    listed = ", ".join(repr(mask_identities(n)) for n in names[:_MAX_LISTED_COLUMNS])
    more = f" and {len(names) - _MAX_LISTED_COLUMNS} more" if len(names) > _MAX_LISTED_COLUMNS else ""
    return f"columns found: {listed}{more}"


def _match_header(names: list[str], require: str | None, file: _File) -> list[str]:
    """Rename the column matching ``require`` (any case, spaces around) to ``require``."""
    if require is None or require in names:
        return names
    wanted = require.casefold()
    matches = [i for i, name in enumerate(names) if name.casefold() == wanted]
    if len(matches) == 1:
        return [require if i == matches[0] else name for i, name in enumerate(names)]
    if matches:
        clashing = ", ".join(repr(names[i]) for i in matches)
        raise BlipAudienceError(
            f"audience {file.name!r}: columns {clashing} all match phone_column {require!r}; "
            "rename all but one, or set phone_column to one of them exactly"
        )
    raise BlipAudienceError(
        f"audience {file.name!r} has no {require!r} column (set phone_column); {_columns_found(names)}"
    )


def _first_line(text: io.TextIOWrapper) -> tuple[str, str]:
    """Return the delimiter and the header line, skipping Excel's ``sep=`` hint line."""
    line = text.readline()
    hint = _SEP_LINE.match(line)
    if hint:
        return hint.group(1), text.readline()
    return _delimiter(line), line


def _undecodable_column(cells: list[str], names: list[str]) -> str:
    index = next(i for i, cell in enumerate(cells) if _UNDECODABLE.search(cell))
    return names[index] if index < len(names) else f"#{index + 1}"


def _too_many_cells(number: int, cells: int, names: list[str], delimiter: str) -> str:
    last = names[-1] if names else ""
    return (
        f"row {number}: {cells} cells for {len(names)} columns (cells after column {last!r} have "
        f"no column; a value with an unquoted {delimiter!r}?)"
    )


def _csv_rows(
    text: io.TextIOWrapper, file: _File, decoding: _Decoding, require: str | None
) -> Iterator[_Row]:
    delimiter, header_line = _first_line(text)
    # Give the header line back to the reader: the file is only ever read forward.
    reader = csv.reader(itertools.chain([header_line], text), delimiter=delimiter)
    header = next(reader, [])
    if _UNDECODABLE.search("".join(header)):
        raise _undecodable(file, decoding, "the header line")
    names = _match_header([name.strip() for name in header], require, file)
    width = len(names)
    number = 0
    while True:
        try:
            for cells in reader:
                if not cells:
                    continue  # a blank line is no row
                number += 1
                if _UNDECODABLE.search("".join(cells)):
                    where = f"row {number}, column {_undecodable_column(cells, names)!r},"
                    raise _undecodable(file, decoding, where)
                if len(cells) > width and any(c.strip() for c in cells[width:]):
                    yield _Malformed(number, _too_many_cells(number, len(cells), names, delimiter))
                    continue
                if len(cells) < width:
                    # Excel leaves out the delimiters of empty cells at the end of some rows.
                    cells += [""] * (width - len(cells))
                yield number, dict(zip(names, cells, strict=False))
            return
        except csv.Error as exc:  # one row the reader could not split; it goes on at the next line
            number += 1
            yield _Malformed(number, f"row {number}: not readable as CSV ({exc})")


def _jsonl_rows(
    text: io.TextIOWrapper, file: _File, decoding: _Decoding, require: str | None
) -> Iterator[_Row]:
    first = True
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        if _UNDECODABLE.search(line):
            raise _undecodable(file, decoding, f"row {number}")
        if first and line.lstrip("\ufeff \t").startswith("["):
            raise BlipAudienceError(
                f"audience {file.name!r} is a JSON array; write JSON Lines (one object per line) or CSV"
            )
        first = False
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield _Malformed(number, f"row {number}: not valid JSON ({exc.msg} at character {exc.colno})")
            continue
        if not isinstance(value, dict):
            kind = "array" if isinstance(value, list) else type(value).__name__
            yield _Malformed(number, f"row {number}: a JSON {kind}, not an object of column to value")
            continue
        yield number, value


def _parquet_rows(handle: IO[bytes], file: _File, require: str | None) -> Iterator[_Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def unreadable(exc: Exception, where: str) -> BlipAudienceError:
        # pyarrow's messages describe the file's structure, never its values; masked anyway.
        why = mask_identities(str(exc).splitlines()[0][:200]) if str(exc) else type(exc).__name__
        return BlipAudienceError(f"audience {file.name!r} is not a readable Parquet file{where}: {why}")

    try:
        parquet = pq.ParquetFile(handle)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise unreadable(exc, "") from exc
    names = _match_header([str(name).strip() for name in parquet.schema_arrow.names], require, file)
    batches = parquet.iter_batches(batch_size=_PARQUET_BATCH_ROWS, use_threads=False)
    number = 0
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise unreadable(exc, f" after row {number}") from exc
        columns = [column.to_pylist() for column in batch.columns]
        for values in zip(*columns, strict=True):
            number += 1
            yield number, dict(zip(names, values, strict=True))


def _file_rows(file: _File, require: str | None) -> Iterator[_Row]:
    if file.format is AudienceFormat.PARQUET:
        with _seekable(file) as handle:
            yield from _parquet_rows(handle, file, require)
        return
    read = _csv_rows if file.format is AudienceFormat.CSV else _jsonl_rows
    with _binary(file) as binary:
        text, decoding = _text(binary, file)
        try:
            yield from read(text, file, decoding, require)
        except UnicodeDecodeError:  # a codec that cannot escape a byte (UTF-16's odd last byte)
            raise _undecodable(file, decoding, "its end") from None


def _mapping_rows(source: Iterable[Mapping[str, object]]) -> Iterator[_Row]:
    for number, row in enumerate(source, start=1):
        if not isinstance(row, Mapping):
            raise BlipConfigError(
                f"audience row {number} is a {type(row).__name__}, not a mapping of column to value"
            )
        yield number, dict(row)


def _rows(
    source: AudienceSource, require: str | None, encoding: str | None, format: str | None
) -> Iterator[_Row]:
    if isinstance(source, str | os.PathLike):
        return _file_rows(_file(source, encoding, format), require)
    if isinstance(source, Mapping) or not isinstance(source, Iterable):
        raise BlipConfigError(
            "an audience must be a file path or URL (CSV, JSON Lines, Parquet) or an iterable of "
            f"dicts, not a {type(source).__name__}"
        )
    return _mapping_rows(source)


def iter_rows(
    source: AudienceSource, *, encoding: str | None = None, format: str | None = None
) -> Iterator[tuple[int, dict[str, object]]]:
    """Stream ``(row number, row)`` pairs from an audience, numbering data rows from 1.

    Nothing is opened until the first row is asked for, and the file is closed when the
    iterator is exhausted or closed. Rows that cannot be read (see :func:`parse_audience`)
    are left out here.

    :param source: an iterable of dicts, or a file path or URL (``/abs/path.csv``,
        ``file:///...``, ``s3://...``, ``gs://...``, ``https://...``; relative paths are
        made absolute).
    :param encoding: the text encoding of a CSV or JSON Lines file; default: UTF-8 (with or
        without a BOM), or cp1252 when the first 64 KiB are not UTF-8.
    :param format: ``csv``, ``jsonl`` (or ``ndjson``, ``json``) or ``parquet``; default: from
        the extension, ``csv`` when there is none.
    :raises BlipAudienceError: when the file is missing or cannot be read as a whole (the
        message names it, never a row's content); ``format`` or ``encoding`` are checked at
        call time.
    :raises BlipTransportError: when an http(s) download fails on the way (retryable).
    """
    rows = _rows(source, None, encoding, format)
    return (row for row in rows if not isinstance(row, _Malformed))


def _cell(value: object) -> str:
    # NaN is how dataframes spell an empty cell; sending "nan" to a customer would be worse
    # than a template refusing the row for a missing value.
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _pop_column(row: dict[str, object], column: str) -> tuple[bool, object]:
    """Pop ``column`` from a dict row, else the first key equal to it in any case and spacing."""
    if column in row:
        return True, row.pop(column)
    wanted = column.casefold()
    for key in row:
        if isinstance(key, str) and key.strip().casefold() == wanted:
            return True, row.pop(key)
    return False, None


def _parse_rows(rows: Iterator[_Row], phone_column: str, region: str) -> Iterator[Recipient | Rejected]:
    first_row: dict[int, int] = {}  # dedupe key -> row where the number was first seen
    for item in rows:
        if isinstance(item, _Malformed):
            yield Rejected(item.row, "", RecipientStatus.INVALID_VALUES.value, item.reason)
            continue
        number, row = item
        found, raw = _pop_column(row, phone_column)
        if not found:
            yield Rejected(number, "", RecipientStatus.INVALID_NUMBER.value, f"no {phone_column!r} value")
            continue
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
    source: AudienceSource,
    *,
    phone_column: str = "phone",
    default_region: str = "BR",
    encoding: str | None = None,
    format: str | None = None,
) -> AudienceStream:
    """Stream the audience as one :class:`Recipient` or :class:`Rejected` per row, in order.

    A number seen again in any format (``+55 31 98888-7777`` after ``(31) 98888-7777``) is
    rejected as ``duplicate`` naming the row that keeps it; a number that does not parse is
    rejected as ``invalid_number``, and so is a row without the phone column; a row that
    cannot be read (a line that is not JSON, more CSV cells than columns) is rejected as
    ``invalid_values``. The arguments are checked at once; the file is opened when the
    first row is asked for. The stream counts what it read (:class:`AudienceStream`).

    :param source: see :func:`iter_rows`.
    :param phone_column: the column holding the phone number; any case, spaces around.
    :param default_region: the region of numbers written without a country code.
    :param encoding: see :func:`iter_rows`.
    :param format: see :func:`iter_rows`.
    :raises BlipConfigError: when ``default_region`` or ``phone_column`` is unusable.
    :raises BlipAudienceError: when the file is missing or cannot be read, or a CSV or
        Parquet file has no ``phone_column`` (the message lists the columns found).
    """
    region = check_region(default_region)
    if not isinstance(phone_column, str) or not phone_column.strip():
        raise BlipConfigError(f"phone_column must be a column name, got {phone_column!r}")
    column = phone_column.strip()
    return AudienceStream(_parse_rows(_rows(source, column, encoding, format), column, region))
