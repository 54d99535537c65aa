"""Run files are owner-only on a local disk, whatever the umask; object stores just work."""

from __future__ import annotations

import os
import stat

import pytest

from airflow_provider_blip.utils import runfiles


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def open_umask():
    # The loosest umask: whatever is owner-only below is so because the module made it so.
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("open_umask")
def test_files_and_the_directories_created_for_them_are_owner_only(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    root = shared / "runs"
    jsonl = runfiles.storage_path(root) / "dag" / "run" / "chunks" / "00000.jsonl"
    runfiles.write_jsonl(jsonl, [{"row": 1, "phone": "+5511987654321"}])
    runfiles.write_json(jsonl.parent / "manifest.json", [{"chunk": str(jsonl)}])

    assert mode(root / "dag" / "run" / "chunks" / "00000.jsonl") == 0o600
    assert mode(root / "dag" / "run" / "chunks" / "manifest.json") == 0o600
    for directory in (root, root / "dag", root / "dag" / "run", root / "dag" / "run" / "chunks"):
        assert mode(directory) == 0o700, directory
    assert mode(shared) == 0o755, "a directory that existed keeps its mode"
    assert list(runfiles.read_jsonl(jsonl)) == [{"row": 1, "phone": "+5511987654321"}]


@pytest.mark.usefixtures("open_umask")
def test_an_existing_file_is_narrowed_before_it_is_rewritten(tmp_path):
    target = tmp_path / "manifest.json"
    target.write_text("[]")
    os.chmod(target, 0o644)
    runfiles.write_json(runfiles.storage_path(target), {"chunks": 1})
    assert mode(target) == 0o600
    assert runfiles.read_json(runfiles.storage_path(target)) == {"chunks": 1}


@pytest.mark.usefixtures("open_umask")
def test_open_private_appends_in_binary(tmp_path):
    path = runfiles.storage_path(tmp_path / "new" / "segment.bin")
    for chunk in (b"abc", b"def"):
        with runfiles.open_private(path, "ab") as out:
            out.write(chunk)
    assert (tmp_path / "new" / "segment.bin").read_bytes() == b"abcdef"
    assert mode(tmp_path / "new" / "segment.bin") == 0o600
    assert mode(tmp_path / "new") == 0o700


def test_object_store_paths_have_no_mode_to_set():
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath("memory:///blip-runs-test/dag/run/chunks/00000.jsonl")
    assert runfiles.local_path(path) is None
    runfiles.write_jsonl(path, [{"row": 1}])
    assert list(runfiles.read_jsonl(path)) == [{"row": 1}]


def test_open_private_exclusive_mode_refuses_an_existing_file(tmp_path):
    path = runfiles.storage_path(tmp_path / "key")
    with runfiles.open_private(path, "xb") as out:
        out.write(b"first")
    with pytest.raises(FileExistsError):
        runfiles.open_private(path, "xb")
    assert (tmp_path / "key").read_bytes() == b"first"
