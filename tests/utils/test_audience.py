from __future__ import annotations

import inspect
import itertools
import json
import re
import tracemalloc
import types

import pytest

from airflow_provider_blip.exceptions import BlipAudienceError, BlipConfigError
from airflow_provider_blip.utils.audience import (
    AudienceStream,
    Recipient,
    Rejected,
    iter_rows,
    parse_audience,
)

MOBILE = "+5531988887777"


def write_csv(path, text: str, *, bom: bool = False):
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


# --- iter_rows -------------------------------------------------------------------------------


def test_iter_rows_enumerates_a_list_from_one():
    rows = [{"phone": "1"}, {"phone": "2"}]
    assert list(iter_rows(rows)) == [(1, {"phone": "1"}), (2, {"phone": "2"})]


def test_iter_rows_accepts_any_iterable_of_mappings():
    gen = ({"phone": str(i)} for i in range(3))
    assert [n for n, _ in iter_rows(gen)] == [1, 2, 3]


def test_iter_rows_reads_csv_with_bom_and_accents(tmp_path):
    path = write_csv(
        tmp_path / "a.csv", "phone,nome,cidade\n+5531988887777,José,São João del-Rei\n", bom=True
    )
    assert list(iter_rows(str(path))) == [
        (1, {"phone": "+5531988887777", "nome": "José", "cidade": "São João del-Rei"})
    ]


@pytest.mark.parametrize(
    "as_source",
    [
        pytest.param(lambda p: str(p), id="absolute-path"),
        pytest.param(lambda p: p, id="pathlike"),
        pytest.param(lambda p: p.as_uri(), id="file-url"),
        pytest.param(lambda p: f"file://{p}", id="file-url-unencoded"),
        pytest.param(lambda p: f"file://localhost{p}", id="file-url-localhost"),
    ],
)
def test_iter_rows_source_forms(tmp_path, as_source):
    path = write_csv(tmp_path / "audiência 1.csv", "phone,name\n1,a\n2,b\n")
    assert list(iter_rows(as_source(path))) == [
        (1, {"phone": "1", "name": "a"}),
        (2, {"phone": "2", "name": "b"}),
    ]


def test_iter_rows_relative_path(tmp_path, monkeypatch):
    write_csv(tmp_path / "rel.csv", "phone\n1\n")
    monkeypatch.chdir(tmp_path)
    assert list(iter_rows("rel.csv")) == [(1, {"phone": "1"})]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("phone;nome\n+5531988887777;Ana\n", id="semicolon"),
        pytest.param("phone\tnome\n+5531988887777\tAna\n", id="tab"),
        pytest.param("phone,nome\r\n+5531988887777,Ana\r\n", id="crlf"),
        pytest.param(" phone , nome \n+5531988887777,Ana\n", id="spaces-in-header"),
    ],
)
def test_iter_rows_csv_dialects(tmp_path, text):
    path = write_csv(tmp_path / "a.csv", text)
    assert list(iter_rows(path)) == [(1, {"phone": "+5531988887777", "nome": "Ana"})]


def test_iter_rows_quoted_cells_keep_commas_and_newlines(tmp_path):
    path = write_csv(tmp_path / "a.csv", 'phone,address\n1,"Rua A, 10\nApto 2"\n2,x\n')
    assert list(iter_rows(path)) == [
        (1, {"phone": "1", "address": "Rua A, 10\nApto 2"}),
        (2, {"phone": "2", "address": "x"}),
    ]


def test_iter_rows_missing_file_names_the_source(tmp_path):
    missing = str(tmp_path / "nope.csv")
    rows = iter_rows(missing)  # nothing is opened yet
    with pytest.raises(BlipAudienceError, match="nope.csv.*not found"):
        next(rows)


@pytest.mark.parametrize(
    ("source", "match"),
    [
        pytest.param({"phone": MOBILE}, "dict", id="single-dict"),
        pytest.param(42, "int", id="int"),
        pytest.param(None, "NoneType", id="none"),
    ],
)
def test_iter_rows_refuses_other_sources(source, match):
    with pytest.raises(BlipConfigError, match=match):
        iter_rows(source)


def test_iter_rows_refuses_non_mapping_rows():
    rows = iter_rows([{"phone": "1"}, MOBILE])
    assert next(rows) == (1, {"phone": "1"})
    with pytest.raises(BlipConfigError, match="row 2 is a str"):
        next(rows)


# --- parse_audience ---------------------------------------------------------------------------


def test_parse_audience_from_list():
    rows = [
        {"phone": "+55 31 98888-7777", "name": "Ana", "order": 123, "note": None},
        {"phone": "(31) 3333-4444", "name": "Bia", "order": 7.5, "note": float("nan")},
    ]
    assert list(parse_audience(rows)) == [
        Recipient(row=1, phone=MOBILE, values={"name": "Ana", "order": "123", "note": ""}),
        Recipient(row=2, phone="+553133334444", values={"name": "Bia", "order": "7.5", "note": ""}),
    ]


def test_parse_audience_does_not_modify_the_callers_rows():
    rows = [{"phone": MOBILE, "name": "Ana"}]
    list(parse_audience(rows))
    assert rows == [{"phone": MOBILE, "name": "Ana"}]


def test_parse_audience_dedupes_across_formats(tmp_path):
    path = write_csv(
        tmp_path / "a.csv",
        "phone,name\n+55 31 98888-7777,Ana\n(31) 98888-7777,Ana again\n+553188887777,old format\n",
    )
    assert list(parse_audience(path)) == [
        Recipient(row=1, phone=MOBILE, values={"name": "Ana"}),
        Rejected(row=2, raw_phone="(31) 98888-7777", status="duplicate", reason="same number as row 1"),
        Rejected(row=3, raw_phone="+553188887777", status="duplicate", reason="same number as row 1"),
    ]


def test_parse_audience_duplicate_names_first_valid_row_not_an_invalid_one():
    rows = [
        {"phone": "junk"},
        {"phone": "+16502530000"},
        {"phone": 5531988887777},
        {"phone": "(31) 98888-7777"},
    ]
    out = list(parse_audience(rows))
    assert [type(o).__name__ for o in out] == ["Rejected", "Recipient", "Recipient", "Rejected"]
    assert out[3] == Rejected(
        row=4, raw_phone="(31) 98888-7777", status="duplicate", reason="same number as row 3"
    )


def test_parse_audience_rejects_invalid_and_goes_on():
    rows = [{"phone": "abc"}, {"name": "no phone"}, {"phone": None}, {"phone": MOBILE}]
    assert list(parse_audience(rows)) == [
        Rejected(row=1, raw_phone="abc", status="invalid_number", reason="not a phone number"),
        Rejected(row=2, raw_phone="", status="invalid_number", reason="no 'phone' value"),
        Rejected(row=3, raw_phone="", status="invalid_number", reason="empty"),
        Recipient(row=4, phone=MOBILE, values={}),
    ]


def test_parse_audience_custom_column_and_region(tmp_path):
    path = write_csv(tmp_path / "a.csv", "name,celular\nAna,(650) 253-0000\n")
    assert list(parse_audience(path, phone_column="celular", default_region="US")) == [
        Recipient(row=1, phone="+16502530000", values={"name": "Ana"})
    ]
    rows = [{"tel": "(650) 253-0000"}]
    assert list(parse_audience(rows, phone_column="tel")) == [
        Rejected(
            row=1,
            raw_phone="(650) 253-0000",
            status="invalid_number",
            reason="not a valid number for region BR",
        )
    ]


def test_parse_audience_short_and_long_csv_rows(tmp_path):
    path = write_csv(
        tmp_path / "a.csv",
        "phone,name,city\n+5531988887777,Ana\n+553133334444,Bia,BH,extra\n+5531999990000,Caio,BH,\n",
    )
    short, long, trailing = parse_audience(path)
    # Excel leaves out the delimiters of empty cells at the end of some rows: padded.
    assert short == Recipient(row=1, phone=MOBILE, values={"name": "Ana", "city": ""})
    # A cell with no column is a value holding a delimiter: the row is refused, not guessed at.
    assert long == Rejected(
        row=2,
        raw_phone="",
        status="invalid_values",
        reason="row 2: 4 cells for 3 columns (cells after column 'city' have no column; "
        "a value with an unquoted ','?)",
    )
    # An empty cell after the last column is only a trailing delimiter.
    assert trailing == Recipient(row=3, phone="+5531999990000", values={"name": "Caio", "city": "BH"})


def test_parse_audience_file_url_with_bom(tmp_path):
    path = write_csv(tmp_path / "a.csv", "phone,nome\n31988887777,Conceição 🎉\n", bom=True)
    assert list(parse_audience(path.as_uri())) == [
        Recipient(row=1, phone=MOBILE, values={"nome": "Conceição 🎉"})
    ]


def test_missing_phone_column_lists_columns(tmp_path):
    path = write_csv(tmp_path / "a.csv", "telefone,nome\n+5531988887777,Ana\n")
    with pytest.raises(BlipConfigError) as info:
        list(parse_audience(path))
    message = str(info.value)
    assert "'phone'" in message
    assert "'telefone', 'nome'" in message
    assert "a.csv" in message


def test_missing_phone_column_is_caught_even_without_data_rows(tmp_path):
    path = write_csv(tmp_path / "a.csv", "telefone\n")
    with pytest.raises(BlipConfigError, match="'telefone'"):
        list(parse_audience(path))


def test_empty_file(tmp_path):
    path = write_csv(tmp_path / "a.csv", "")
    with pytest.raises(BlipConfigError, match="none"):
        list(parse_audience(path))


def test_header_only_file_is_an_empty_audience(tmp_path):
    path = write_csv(tmp_path / "a.csv", "phone,name\n")
    assert list(parse_audience(path)) == []


def test_bad_arguments_fail_at_call_time():
    with pytest.raises(BlipConfigError, match="default_region"):
        parse_audience([], default_region="ZZZ")
    with pytest.raises(BlipConfigError, match="phone_column"):
        parse_audience([], phone_column="")


def test_file_is_closed_when_the_iterator_is_closed(tmp_path, monkeypatch):
    from airflow.sdk import ObjectStoragePath

    opened = []
    real_open = ObjectStoragePath.open

    def tracking_open(self, *args, **kwargs):
        handle = real_open(self, *args, **kwargs)
        opened.append(handle)
        return handle

    monkeypatch.setattr(ObjectStoragePath, "open", tracking_open)
    path = write_csv(tmp_path / "a.csv", "phone\n" + "+5531988887777\n" * 10)
    rows = parse_audience(path)
    assert opened == []  # lazy: nothing opened before the first row is asked for
    next(rows)
    assert len(opened) == 1
    assert not opened[0].closed
    rows.close()
    assert opened[0].closed


# --- large files ------------------------------------------------------------------------------

ROWS = 100_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone,name,order\n")
        for i in range(ROWS):
            f.write(f"+55 31 9{i // 10000:04d}-{i % 10000:04d},Cliente {i},{i}\n")
    # Warm up: object storage imports its modules on first use, which would count as the
    # reader's memory in the streaming test.
    warm_up = write_csv(path.parent / "warm.csv", "phone\n1\n")
    assert list(iter_rows(warm_up)) == [(1, {"phone": "1"})]
    return path


def test_big_csv_is_streamed(big_csv):
    rows = iter_rows(big_csv)
    assert isinstance(rows, types.GeneratorType)
    assert inspect.getgeneratorstate(rows) == inspect.GEN_CREATED
    size = big_csv.stat().st_size
    assert size > 3_000_000
    # Trace memory over the first fifth only (tracing is slow): a reader that loaded the
    # file up front would already peak at its size there.
    tracemalloc.start()
    try:
        count = 0
        for number, _ in itertools.islice(rows, ROWS // 5):
            count += 1
            assert number == count
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 10, f"peak {peak} bytes for a {size}-byte file"
    last: dict[str, object] = {}
    for number, row in rows:
        count += 1
        assert number == count
        last = row
    assert count == ROWS
    assert last == {"phone": "+55 31 90009-9999", "name": f"Cliente {ROWS - 1}", "order": str(ROWS - 1)}


def test_big_csv_parse_audience_is_lazy(big_csv):
    out = parse_audience(big_csv)
    assert isinstance(out, AudienceStream)
    assert out.rows == 0
    first = list(itertools.islice(out, 5))
    assert (out.rows, out.recipients, out.finished) == (5, 5, False)
    out.close()
    assert [o.row for o in first] == [1, 2, 3, 4, 5]
    assert first[0] == Recipient(row=1, phone="+5531900000000", values={"name": "Cliente 0", "order": "0"})


def test_parse_audience_pulls_rows_only_as_asked():
    pulled = 0

    def source():
        nonlocal pulled
        for i in range(100_000):
            pulled += 1
            yield {"phone": f"+55319{i:08d}"}

    out = parse_audience(source())
    assert pulled == 0, "nothing is read before the first row is asked for"
    first = list(itertools.islice(out, 5))
    assert [o.row for o in first] == [1, 2, 3, 4, 5]
    assert pulled == 5, "five rows asked, five rows read"


# --- no personal data in errors ----------------------------------------------------------------

_NUMBER = re.compile(r"\d{8,}")


def assert_no_number(text: str) -> None:
    """Error texts and reasons never carry a phone number (eight digits or more in a row)."""
    assert not _NUMBER.search(text), text


# --- the single pass: counts at the end ------------------------------------------------------


def test_stream_counts_every_row_in_one_pass():
    rows = [{"phone": MOBILE}, {"phone": "abc"}, {"phone": "(31) 98888-7777"}, {"phone": "+553133334444"}]
    stream = parse_audience(rows)
    items = list(stream)
    assert len(items) == 4
    assert stream.finished
    assert stream.rows == 4
    assert stream.recipients == 2
    assert stream.rejected == {"invalid_number": 1, "duplicate": 1}


def test_stream_close_closes_the_file(tmp_path):
    path = write_csv(tmp_path / "a.csv", "phone\n" + f"{MOBILE}\n" * 3)
    stream = parse_audience(path)
    next(stream)
    stream.close()
    assert list(stream) == []
    assert not stream.finished


# --- headers: case and spaces ------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Phone", " PHONE ", "phone", "pHoNe\t"])
def test_phone_column_matches_any_case_and_spacing(tmp_path, header):
    path = write_csv(tmp_path / "a.csv", f"{header};Nome\n{MOBILE};Ana\n")
    assert list(parse_audience(path)) == [Recipient(row=1, phone=MOBILE, values={"Nome": "Ana"})]


def test_phone_column_argument_matches_any_case(tmp_path):
    path = write_csv(tmp_path / "a.csv", "Telefone,nome\n31988887777,Ana\n")
    assert [o.phone for o in parse_audience(path, phone_column="TELEFONE ")] == [MOBILE]


def test_exact_phone_column_wins_over_other_cases(tmp_path):
    path = write_csv(tmp_path / "a.csv", "Phone,phone\n+553133334444,31988887777\n")
    assert list(parse_audience(path)) == [Recipient(row=1, phone=MOBILE, values={"Phone": "+553133334444"})]


def test_two_columns_matching_the_phone_column_is_an_error(tmp_path):
    path = write_csv(tmp_path / "a.csv", "Phone,PHONE\n1,2\n")
    with pytest.raises(BlipAudienceError, match="'Phone', 'PHONE' all match phone_column 'phone'"):
        list(parse_audience(path))


def test_dict_rows_match_the_phone_key_in_any_case():
    rows = [{"Phone ": MOBILE, "nome": "Ana"}, {"TELEFONE": MOBILE}]
    out = list(parse_audience(rows))
    assert out[0] == Recipient(row=1, phone=MOBILE, values={"nome": "Ana"})
    assert out[1] == Rejected(row=2, raw_phone="", status="invalid_number", reason="no 'phone' value")


def test_headerless_file_error_does_not_print_the_first_row(tmp_path):
    path = write_csv(tmp_path / "a.csv", "+55 31 98888-7777,Ana Souza\n+553133334444,Bia\n")
    with pytest.raises(BlipAudienceError) as info:
        list(parse_audience(path))
    message = str(info.value)
    assert "no header line" in message
    assert "Ana" not in message
    assert_no_number(message.replace(" ", "").replace("-", ""))


# --- CSV encodings -----------------------------------------------------------------------------

CP1252_TEXT = "telefone;nome;cidade\n31988887777;José;São Paulo\n(31) 3333-4444;Conceição;Goiânia\n"


def test_cp1252_file_from_excel_is_detected(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(CP1252_TEXT.encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # the control: these bytes are not UTF-8
    assert list(parse_audience(path, phone_column="telefone")) == [
        Recipient(row=1, phone=MOBILE, values={"nome": "José", "cidade": "São Paulo"}),
        Recipient(row=2, phone="+553133334444", values={"nome": "Conceição", "cidade": "Goiânia"}),
    ]


def test_utf8_with_bom_and_semicolons(tmp_path):
    path = write_csv(tmp_path / "a.csv", CP1252_TEXT, bom=True)
    rows = list(iter_rows(path))
    assert list(rows[0][1]) == ["telefone", "nome", "cidade"]  # no BOM glued to the first name
    assert rows[1] == (2, {"telefone": "(31) 3333-4444", "nome": "Conceição", "cidade": "Goiânia"})


def test_excel_sep_line_names_the_delimiter(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(("sep=;\n" + "phone;nota\n" + f"{MOBILE};1,5\n").encode("cp1252"))
    assert list(iter_rows(path)) == [(1, {"phone": MOBILE, "nota": "1,5"})]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1", "ISO-8859-1", "windows-1252"])
def test_explicit_encoding(tmp_path, encoding):
    path = tmp_path / "a.csv"
    path.write_bytes("phone,nome\n1,Ação\n".encode("cp1252"))
    assert list(iter_rows(path, encoding=encoding)) == [(1, {"phone": "1", "nome": "Ação"})]


def test_explicit_utf8_still_drops_the_bom(tmp_path):
    path = write_csv(tmp_path / "a.csv", "phone\n1\n", bom=True)
    assert list(iter_rows(path, encoding="utf-8")) == [(1, {"phone": "1"})]


def test_utf16_from_excel_unicode_text(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes("phone\tnome\r\n1\tJoão\r\n".encode("utf-16"))
    assert list(iter_rows(path)) == [(1, {"phone": "1", "nome": "João"})]


def test_unknown_encoding_fails_at_call_time(tmp_path):
    with pytest.raises(BlipAudienceError, match="encoding 'klingon'"):
        iter_rows(tmp_path / "a.csv", encoding="klingon")


def late_cp1252_file(path, rows: int = 5000):
    """ASCII well past the detection prefix, then one row written in cp1252."""
    lines = ["phone;nome"] + [f"+55119{i:08d};Cliente" for i in range(rows)] + ["+5531988887777;Conceição"]
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    assert path.stat().st_size > 64 * 1024
    return path


def test_late_cp1252_bytes_name_row_and_column_and_the_fix(tmp_path):
    path = late_cp1252_file(tmp_path / "late.csv")
    rows = parse_audience(path)
    with pytest.raises(BlipAudienceError) as info:
        for _ in rows:
            pass
    message = str(info.value)
    assert "late.csv" in message
    assert "row 5001, column 'nome'" in message
    assert "encoding='cp1252'" in message
    assert "Concei" not in message
    assert_no_number(message)
    assert rows.rows == 5000  # every row before it was read


def test_late_cp1252_bytes_read_with_the_encoding_set(tmp_path):
    path = late_cp1252_file(tmp_path / "late.csv")
    *_, last = parse_audience(path, encoding="cp1252")
    assert last == Recipient(row=5001, phone=MOBILE, values={"nome": "Conceição"})


def test_bytes_neither_utf8_nor_cp1252(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"phone,nome\n1,\xe7\n2,\x81\n")  # 0x81 has no character in cp1252
    with pytest.raises(BlipAudienceError, match=r"row 2, column 'nome', cannot be decoded.*not valid cp1252"):
        list(iter_rows(path))


def test_wrong_explicit_encoding_is_a_clear_error(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("phone,nome\n1,Ação\n".encode("cp1252"))
    with pytest.raises(BlipAudienceError, match="row 1, column 'nome'.*not valid utf-8-sig"):
        list(iter_rows(path, encoding="utf-8"))


def test_undecodable_header(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"phone,n\x81me\n1,a\n")
    with pytest.raises(BlipAudienceError, match="the header line cannot be decoded"):
        list(iter_rows(path))


# --- CSV rows that cannot be read --------------------------------------------------------------


def test_oversized_csv_field_is_one_rejected_row(tmp_path):
    huge = "x" * 200_000
    path = write_csv(tmp_path / "a.csv", f'phone,nome\n{MOBILE},"{huge}"\n+553133334444,Bia\n')
    bad, good = parse_audience(path)
    assert bad.status == "invalid_values"
    assert bad.reason.startswith("row 1: not readable as CSV (field larger than field limit")
    assert good == Recipient(row=2, phone="+553133334444", values={"nome": "Bia"})


def test_long_row_reason_has_no_content(tmp_path):
    path = write_csv(tmp_path / "a.csv", "phone,nome\n+55 31 98888-7777,Souza,Ana\n")
    (rejected,) = parse_audience(path)
    assert rejected.status == "invalid_values"
    assert "Souza" not in rejected.reason
    assert_no_number(rejected.reason)


# --- JSON Lines --------------------------------------------------------------------------------


def write_jsonl(path, *lines: str):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["a.jsonl", "a.ndjson", "a.json"])
def test_jsonl_by_extension(tmp_path, name):
    path = write_jsonl(
        tmp_path / name,
        json.dumps({"Phone": "31988887777", "nome": "José", "pedido": 12, "nota": None}),
        json.dumps({"phone": "+553133334444", "nome": "Bia"}, ensure_ascii=False),
    )
    assert list(parse_audience(path)) == [
        Recipient(row=1, phone=MOBILE, values={"nome": "José", "pedido": "12", "nota": ""}),
        Recipient(row=2, phone="+553133334444", values={"nome": "Bia"}),
    ]


def test_jsonl_bad_lines_are_rejected_rows_and_the_file_goes_on(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        json.dumps({"phone": MOBILE, "nome": "Ana"}),
        '{"phone": "+5531977776666", "nome": "Bia"',  # cut
        "",  # blank lines are no rows, but the numbering follows the lines
        '["+5531966665555"]',
        json.dumps({"nome": "sem telefone"}),
        json.dumps({"phone": "+553133334444"}),
    )
    out = list(parse_audience(path))
    assert [(o.row, type(o).__name__, getattr(o, "status", "")) for o in out] == [
        (1, "Recipient", ""),
        (2, "Rejected", "invalid_values"),
        (4, "Rejected", "invalid_values"),
        (5, "Rejected", "invalid_number"),
        (6, "Recipient", ""),
    ]
    assert out[1].reason.startswith("row 2: not valid JSON (")
    assert out[2].reason == "row 4: a JSON array, not an object of column to value"
    for item in out:
        if isinstance(item, Rejected):
            assert_no_number(item.reason)
            assert "Bia" not in item.reason


def test_jsonl_missing_phone_everywhere_prints_no_number(tmp_path):
    """The case of the issue: a JSON Lines file used to fail quoting its first row."""
    path = write_jsonl(tmp_path / "a.jsonl", json.dumps({"celular": MOBILE, "nome": "Ana"}))
    (rejected,) = parse_audience(path)
    assert rejected == Rejected(row=1, raw_phone="", status="invalid_number", reason="no 'phone' value")


def test_json_array_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps([{"phone": MOBILE}]), encoding="utf-8")
    with pytest.raises(BlipAudienceError, match="JSON array; write JSON Lines") as info:
        list(parse_audience(path))
    assert_no_number(str(info.value))


def test_format_overrides_the_extension(tmp_path):
    path = write_jsonl(tmp_path / "export.txt", json.dumps({"phone": MOBILE}))
    assert [o.phone for o in parse_audience(path, format="jsonl")] == [MOBILE]
    assert [o.phone for o in parse_audience(path, format="NDJSON")] == [MOBILE]


def test_unknown_format_fails_at_call_time(tmp_path):
    with pytest.raises(BlipAudienceError, match="format 'xlsx' is not one of"):
        parse_audience(tmp_path / "a.xlsx", format="xlsx")


def test_jsonl_in_cp1252_is_detected(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes('{"phone": "+5531988887777", "nome": "Conceição"}\n'.encode("cp1252"))
    assert list(iter_rows(path)) == [(1, {"phone": MOBILE, "nome": "Conceição"})]


# --- Parquet -----------------------------------------------------------------------------------


def write_parquet(path, rows: list[dict], row_group_size: int):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    return path


def test_parquet_with_two_row_groups(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{" Phone": 5531988887777, "nome": "José", "pedido": 1}] + [
        {" Phone": 5511900000000 + i, "nome": f"C{i}", "pedido": None} for i in range(1, 5)
    ]
    path = write_parquet(tmp_path / "a.parquet", rows, row_group_size=3)
    assert pq.ParquetFile(path).num_row_groups == 2
    out = list(parse_audience(path))
    assert [o.row for o in out] == [1, 2, 3, 4, 5]
    assert out[0] == Recipient(row=1, phone=MOBILE, values={"nome": "José", "pedido": "1"})
    assert out[4] == Recipient(row=5, phone="+5511900000004", values={"nome": "C4", "pedido": ""})


def test_parquet_is_read_one_batch_at_a_time(tmp_path):
    pa = pytest.importorskip("pyarrow")
    rows = [{"phone": f"+55119{i:08d}", "nome": "x" * 200} for i in range(40_000)]
    path = write_parquet(tmp_path / "big.parquet", rows, row_group_size=5_000)
    whole = pa.Table.from_pylist(rows).nbytes
    del rows
    stream = iter_rows(path)
    before = pa.total_allocated_bytes()
    next(stream)
    held = pa.total_allocated_bytes() - before
    assert held < whole / 4, f"{held} bytes held for a {whole}-byte table"
    assert sum(1 for _ in stream) == 39_999


def test_parquet_without_the_phone_column(tmp_path):
    path = write_parquet(tmp_path / "a.parquet", [{"celular": MOBILE, "nome": "Ana"}], row_group_size=10)
    with pytest.raises(BlipAudienceError, match="no 'phone' column.*'celular', 'nome'") as info:
        list(parse_audience(path))
    assert_no_number(str(info.value))


def test_not_a_parquet_file(tmp_path):
    pytest.importorskip("pyarrow")
    path = write_csv(tmp_path / "a.parquet", f"phone\n{MOBILE}\n")
    with pytest.raises(BlipAudienceError, match="is not a readable Parquet file") as info:
        list(iter_rows(path))
    assert_no_number(str(info.value))


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a)
    )
    with pytest.raises(BlipAudienceError, match=r"pip install 'airflow-provider-blip\[parquet\]'"):
        parse_audience(tmp_path / "a.parquet")


# --- http(s) -----------------------------------------------------------------------------------


class _Server:
    """A tiny HTTP server on 127.0.0.1 serving files from a folder, for http(s) audiences."""

    def __init__(self, root, certificate=None):
        import http.server
        import ssl
        import threading

        server = self
        self.requests: list[str] = []
        self.status: int | None = None  # answer every request with this status when set
        self.pause = threading.Event()  # set by a test to let a paused body go on
        self.pause_after: int | None = None  # send this many bytes, then wait for `pause`
        self.waited_in_vain = False
        self.cut_short = False  # announce more bytes than are sent, then hang up

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if server.status is not None:
                    self.send_error(server.status)
                    return
                file = root / self.path.split("?")[0].lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + (1000 if server.cut_short else 0)))
                self.end_headers()
                if server.pause_after is None:
                    self.wfile.write(body)
                    return
                self.wfile.write(body[: server.pause_after])
                self.wfile.flush()
                server.waited_in_vain = not server.pause.wait(10)
                self.wfile.write(body[server.pause_after :])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*certificate)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.pause.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = _Server(tmp_path)
    yield server
    server.close()


def test_csv_over_http(tmp_path, http_server):
    path = tmp_path / "clientes.csv"
    path.write_bytes(CP1252_TEXT.encode("cp1252"))
    rows = parse_audience(f"{http_server.url}/clientes.csv", phone_column="telefone")
    assert http_server.requests == []  # nothing is requested before the first row is asked for
    assert [o.values["nome"] for o in rows] == ["José", "Conceição"]
    assert http_server.requests == ["/clientes.csv"]


def test_http_download_is_streamed(tmp_path, http_server):
    path = late_cp1252_file(tmp_path / "big.csv", rows=20_000)
    http_server.pause_after = 100_000  # past the encoding prefix; the rest waits for the test
    rows = iter_rows(f"{http_server.url}/big.csv", encoding="cp1252")
    first = next(rows)  # would wait out the server's pause if the whole body were read first
    http_server.pause.set()
    assert first == (1, {"phone": "+5511900000000", "nome": "Cliente"})
    assert sum(1 for _ in rows) == 20_000
    assert not http_server.waited_in_vain
    assert path.stat().st_size > 300_000


def test_jsonl_and_parquet_over_http(tmp_path, http_server):
    write_jsonl(tmp_path / "a.jsonl", json.dumps({"phone": MOBILE}))
    assert [o.phone for o in parse_audience(f"{http_server.url}/a.jsonl")] == [MOBILE]
    pytest.importorskip("pyarrow")
    write_parquet(tmp_path / "a.parquet", [{"phone": MOBILE}, {"phone": "+553133334444"}], row_group_size=1)
    assert [o.row for o in parse_audience(f"{http_server.url}/a.parquet?sig=x")] == [1, 2]


def test_http_not_found_hides_the_query_string(http_server):
    url = f"{http_server.url}/missing.csv?X-Amz-Signature=s3cr3t"
    with pytest.raises(BlipAudienceError, match=r"missing.csv\?\.\.\.' not found \(HTTP 404\)") as info:
        list(parse_audience(url))
    assert "s3cr3t" not in str(info.value)


def test_http_server_error_is_retryable(http_server):
    from airflow_provider_blip.exceptions import BlipTransportError

    http_server.status = 503
    with pytest.raises(BlipTransportError, match="HTTP 503") as info:
        list(parse_audience(f"{http_server.url}/a.csv"))
    assert info.value.retryable


def test_http_download_cut_short_is_retryable(tmp_path, http_server):
    from airflow_provider_blip.exceptions import BlipTransportError

    write_csv(tmp_path / "a.csv", "phone\n" + f"{MOBILE}\n" * 10)
    http_server.cut_short = True
    with pytest.raises(BlipTransportError, match="the download failed"):
        list(iter_rows(f"{http_server.url}/a.csv"))


def test_http_refused_connection_is_retryable(http_server):
    from airflow_provider_blip.exceptions import BlipTransportError

    url = f"{http_server.url}/a.csv"
    http_server.close()
    with pytest.raises(BlipTransportError, match="the download failed"):
        list(parse_audience(url))


@pytest.fixture
def certificate(tmp_path):
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def https_server(tmp_path, certificate, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    server = _Server(tmp_path, certificate)
    yield server
    server.close()


def test_https_verifies_the_certificate(tmp_path, https_server, certificate, monkeypatch):
    write_csv(tmp_path / "a.csv", f"phone\n{MOBILE}\n")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(BlipAudienceError, match="TLS certificate could not be verified"):
        list(parse_audience(f"{https_server.url}/a.csv"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))  # the fix the error suggests
    assert [o.phone for o in parse_audience(f"{https_server.url}/a.csv")] == [MOBILE]
