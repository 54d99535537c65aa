"""An S3-compatible server on loopback (moto's), a bucket per test and the ``aws_default`` connection to it.

Airflow reaches the server the way a deployment reaches S3: through ``ObjectStoragePath``
and the Amazon provider's filesystem (s3fs), with the connection named in the URL
(``s3://aws_default@bucket/...``). Nothing here leaves the machine: the server listens on
127.0.0.1 and the keys are made up.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The AWS connection the runs path names, as a deployment would name its own.
AWS_CONN_ID = "aws_default"
#: Made-up keys: moto accepts any.
FAKE_KEYS = {"key_id": "testing-key-id", "secret": "testing-secret"}
REGION = "us-east-1"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    """Start moto's S3 server on 127.0.0.1 and a free port; yield its URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@dataclasses.dataclass
class Bucket:
    """One test's bucket on the server, and what the test reads of it directly (boto3, not Airflow)."""

    name: str
    client: Any

    def uri(self, prefix: str = "blip-runs", conn_id: str | None = AWS_CONN_ID) -> str:
        """The ``s3://`` URL of ``prefix``, the connection named in it unless ``conn_id`` is ``None``."""
        user = f"{conn_id}@" if conn_id else ""
        return f"s3://{user}{self.name}/{prefix}"

    def keys(self, prefix: str = "blip-runs/") -> list[str]:
        """Every object key under ``prefix``, relative to it, sorted: what the bucket really holds."""
        found = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix):
            found += [item["Key"].removeprefix(prefix) for item in page.get("Contents", [])]
        return sorted(found)

    def delete(self, key: str) -> None:
        """Remove an object behind Airflow's back (as if it had never been uploaded)."""
        self.client.delete_object(Bucket=self.name, Key=key)


def new_process() -> None:
    """Forget every cached filesystem, as a new task process (worker or triggerer) starts with none.

    Airflow keeps one store per scheme and connection, and s3fs keeps its instances and their
    directory listings: without this, a later "process" would see a listing cached by an
    earlier one instead of what the bucket holds.
    """
    from airflow.sdk.io import store
    from s3fs import S3FileSystem

    store._STORE_CACHE.clear()
    S3FileSystem.clear_instance_cache()


@pytest.fixture
def bucket(s3_server, monkeypatch) -> Iterator[Bucket]:
    """A new bucket, ``aws_default`` pointing at the server, and no AWS setting of the host in the way."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    connection = {
        "conn_type": "aws",
        "login": FAKE_KEYS["key_id"],
        "password": FAKE_KEYS["secret"],
        "extra": {"endpoint_url": s3_server, "region_name": REGION},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{AWS_CONN_ID.upper()}", json.dumps(connection))
    client = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name=REGION,
        aws_access_key_id=FAKE_KEYS["key_id"],
        aws_secret_access_key=FAKE_KEYS["secret"],
    )
    name = f"blip-{secrets.token_hex(4)}"
    client.create_bucket(Bucket=name)
    new_process()
    yield Bucket(name=name, client=client)
    new_process()  # the next test's server port is another: no store may outlive this one


@pytest.fixture
def no_local_modes(monkeypatch):
    """Make runfiles' owner-only code (``os.mkdir``, ``os.open``, ``os.chmod``) raise if it runs at all.

    On an object store it must not: the store has no modes, and an S3 key taken for a local
    path would create folders under the current directory.
    """
    import os

    from airflow_provider_blip.utils import runfiles

    called: list[str] = []

    class GuardedOs:
        def __getattr__(self, name: str) -> Any:
            return getattr(os, name)

        @staticmethod
        def _refuse(name: str, path: Any) -> None:
            called.append(f"{name}({path})")
            raise AssertionError(f"runfiles called os.{name} on {path} with its files on S3")

        def mkdir(self, path: Any, *args: Any, **kwargs: Any) -> None:
            self._refuse("mkdir", path)

        def open(self, path: Any, *args: Any, **kwargs: Any) -> int:
            self._refuse("open", path)
            return -1

        def chmod(self, path: Any, *args: Any, **kwargs: Any) -> None:
            self._refuse("chmod", path)

    monkeypatch.setattr(runfiles, "os", GuardedOs())
    return called
