from __future__ import annotations

import inspect
import itertools
import tracemalloc
import types

import pytest

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.audience import Recipient, Rejected, iter_rows, parse_audience

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
    with pytest.raises(FileNotFoundError, match="nope.csv"):
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
    path = write_csv(tmp_path / "a.csv", "phone,name,city\n+5531988887777,Ana\n+553133334444,Bia,BH,extra\n")
    assert [o.values for o in parse_audience(path)] == [
        {"name": "Ana", "city": ""},
        {"name": "Bia", "city": "BH"},
    ]


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
    assert isinstance(out, types.GeneratorType)
    first = list(itertools.islice(out, 5))
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
