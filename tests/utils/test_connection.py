"""Reading a Blip connection: every field, both env-var forms, and the refusals."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import BaseHook, Connection

from airflow_provider_blip.exceptions import BlipConfigError
from airflow_provider_blip.utils.connection import DEFAULT_BASE_URL, parse_connection
from airflow_provider_blip.utils.ratelimit import PAID_PLAN_RATES

KEY = "bXlib3Q6c2VjcmV0LWtleQ=="


def conn(**kwargs) -> Connection:
    extra = kwargs.pop("extra", None)
    return Connection(
        conn_id="blip_test",
        conn_type="blip",
        password=kwargs.pop("password", KEY),
        extra=json.dumps(extra) if extra is not None else None,
        **kwargs,
    )


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        pytest.param(KEY, KEY, id="bare-key"),
        pytest.param(f"Key {KEY}", KEY, id="with-Key-prefix"),
        pytest.param(f"  key   {KEY}  ", KEY, id="lowercase-prefix-and-spaces"),
    ],
)
def test_key_accepted_with_or_without_prefix(password, expected):
    assert parse_connection(conn(password=password)).key == expected


@pytest.mark.parametrize("password", [None, "", "Key ", "   "])
def test_missing_key_names_the_field(password):
    with pytest.raises(BlipConfigError, match="password field"):
        parse_connection(conn(password=password))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, DEFAULT_BASE_URL, id="no-organization"),
        pytest.param({"login": "MyOrg-1"}, "https://myorg-1.http.msging.net", id="organization-id"),
        pytest.param({"host": "http://127.0.0.1:8080"}, "http://127.0.0.1:8080", id="emulator-loopback"),
        pytest.param({"host": "http://localhost:9"}, "http://localhost:9", id="localhost"),
        pytest.param({"host": "http://[::1]:8080/"}, "http://[::1]:8080", id="ipv6-loopback"),
        pytest.param({"host": "https://blip.example.com/"}, "https://blip.example.com", id="https-host"),
        pytest.param({"host": "blip.example.com"}, "https://blip.example.com", id="host-without-scheme"),
        pytest.param({"host": "127.0.0.1", "port": 8443}, "https://127.0.0.1:8443", id="port-field"),
        pytest.param({"host": "https://x.example", "login": "org"}, "https://x.example", id="host-wins"),
    ],
)
def test_base_url(fields, expected):
    assert parse_connection(conn(**fields)).base_url == expected


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"host": "http://blip.example.com"}, "only allowed for loopback", id="plain-http-remote"
        ),
        pytest.param({"host": "http://10.0.0.5:8080"}, "only allowed for loopback", id="plain-http-private"),
        pytest.param({"host": "ftp://x"}, "not an http", id="bad-scheme"),
        pytest.param({"host": "https://u:p@x.example"}, "bare base URL", id="credentials-in-host"),
        pytest.param({"login": "evil.com/x"}, "single DNS label", id="org-with-slash"),
        pytest.param({"login": "a.b"}, "single DNS label", id="org-with-dot"),
        pytest.param({"login": "x@evil.com"}, "single DNS label", id="org-with-at"),
        pytest.param({"login": "-bad"}, "single DNS label", id="org-leading-hyphen"),
    ],
)
def test_refused_hosts(fields, message):
    with pytest.raises(BlipConfigError, match=message):
        parse_connection(conn(**fields))


def test_extras_defaults_and_overrides():
    config = parse_connection(conn())
    assert config.timeout == 30.0
    assert config.max_retries == 5
    assert config.rates == PAID_PLAN_RATES
    config = parse_connection(
        conn(
            extra={
                "timeout": "7.5",
                "max_retries": "2",
                "messages_per_second": 3,
                "extra__blip__commands_per_second": "48",
                "concurrency": 4,
                "proxy": "http://user:pw@proxy.internal:3128",
            }
        ),
        timeout=1.0,
    )
    assert config.timeout == 1.0, "hook arguments win over extras"
    assert config.max_retries == 2
    assert config.rates == {"messages": 3.0, "commands": 48.0, "notifications": 100.0}
    assert config.concurrency == 4
    assert config.proxy == "http://user:pw@proxy.internal:3128"
    assert "pw@" not in repr(config)
    assert KEY not in repr(config)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"timout": 3}, "unknown extra field"),
        ({"timeout": "soon"}, "'timeout' must be a number"),
        ({"max_retries": -1}, "'max_retries' must not be negative"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
    ],
)
def test_bad_extras_name_the_setting(extra, message):
    with pytest.raises(BlipConfigError, match=message):
        parse_connection(conn(extra=extra))


def test_env_var_json_and_uri_forms(monkeypatch):
    as_json = json.dumps({"conn_type": "blip", "login": "acme", "password": KEY, "extra": {"timeout": 12}})
    monkeypatch.setenv("AIRFLOW_CONN_BLIP_JSON", as_json)
    config = parse_connection(BaseHook.get_connection("blip_json"))
    assert (config.base_url, config.key, config.timeout) == ("https://acme.http.msging.net", KEY, 12.0)

    uri = Connection(
        conn_id="x",
        conn_type="blip",
        host="http://127.0.0.1:8080",
        password=KEY,
        extra=json.dumps({"messages_per_second": 3}),
    ).get_uri()
    monkeypatch.setenv("AIRFLOW_CONN_BLIP_URI", uri)
    config = parse_connection(BaseHook.get_connection("blip_uri"))
    assert (config.base_url, config.key, config.rates["messages"]) == ("http://127.0.0.1:8080", KEY, 3.0)

    monkeypatch.setenv("AIRFLOW_CONN_BLIP_ORG", f"blip://acme:{KEY.replace('=', '%3D')}@")
    config = parse_connection(BaseHook.get_connection("blip_org"))
    assert (config.base_url, config.key) == ("https://acme.http.msging.net", KEY)


def test_parallel_tasks_share_the_plan():
    config = parse_connection(conn(extra={"parallel_tasks": 4, "messages_per_second": 50}))
    assert config.rates == {"messages": 12.5, "commands": 50.0, "notifications": 25.0}
    with pytest.raises(BlipConfigError, match="parallel_tasks must be at least 1"):
        parse_connection(conn(extra={"parallel_tasks": 0}))


def test_pacing_extras_defaults_and_values():
    config = parse_connection(conn())
    assert (config.rate_margin, config.status_read_share) == (0.95, 0.5)
    assert config.status_read_rate == 100.0, "half the paid plan's 200 commands/s"
    assert config.conn_id == "blip_test"
    config = parse_connection(
        conn(extra={"rate_margin": "0.8", "status_read_share": 0.25, "commands_per_second": 40})
    )
    assert (config.rate_margin, config.status_read_share, config.status_read_rate) == (0.8, 0.25, 10.0)
    unlimited = parse_connection(conn(extra={"commands_per_second": 0}))
    assert unlimited.status_read_rate == 0.0, "no commands limit: no status-read limit either"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rate_margin": 0.4}, "'rate_margin' must be between 0.5 and 1.0, got 0.4"),
        ({"rate_margin": 1.2}, "'rate_margin' must be between 0.5 and 1.0"),
        ({"rate_margin": "most"}, "'rate_margin' must be a number"),
        ({"status_read_share": 0}, "'status_read_share' must be between 0.01 and 1.0"),
        ({"status_read_share": 2}, "'status_read_share' must be between"),
    ],
)
def test_pacing_extras_are_validated_naming_the_setting(extra, message):
    with pytest.raises(BlipConfigError, match=message) as info:
        parse_connection(conn(extra=extra))
    assert "'blip_test'" in str(info.value)


def test_every_extra_has_a_form_field():
    from airflow_provider_blip.get_provider_info import CONN_FIELDS
    from airflow_provider_blip.utils.connection import EXTRA_FIELDS

    assert set(CONN_FIELDS) == set(EXTRA_FIELDS)
    assert CONN_FIELDS["rate_margin"]["schema"] == {
        "type": ["number", "null"],
        "minimum": 0.5,
        "maximum": 1.0,
    }
