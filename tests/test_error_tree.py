"""The error tree's promise: every bad argument is a BlipConfigError, every error in one module."""

from __future__ import annotations

import ast
from pathlib import Path

import airflow_provider_blip
from airflow_provider_blip import exceptions

PACKAGE = Path(airflow_provider_blip.__file__).parent
#: Raised on a closed writer, as Python's own files do: a program error, not a bad argument.
ALLOWED = {("utils/ledger.py", "the ledger writer is closed")}


def raised_builtins(name: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            if isinstance(func, ast.Name) and func.id == name:
                message = ast.literal_eval(node.exc.args[0]) if node.exc.args else ""
                if not isinstance(message, str):
                    message = "<f-string>"
                found.append((path.relative_to(PACKAGE).as_posix(), message))
    return found


def test_no_bare_value_error_outside_the_tree() -> None:
    assert set(raised_builtins("ValueError")) <= ALLOWED


def test_every_exception_class_lives_in_exceptions_module() -> None:
    outside = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "exceptions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception")) for base in node.bases
            ):
                outside.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert outside == []


def test_argument_errors_are_value_errors_and_fatal() -> None:
    from airflow.sdk.exceptions import AirflowFailException

    assert issubclass(exceptions.BlipConfigError, ValueError)
    assert issubclass(exceptions.BlipConfigError, AirflowFailException)
    # A row's bad value is not fatal: the batch rejects the row and goes on.
    assert not issubclass(exceptions.InvalidPhoneNumber, AirflowFailException)
    assert issubclass(exceptions.InvalidPhoneNumber, exceptions.BlipError)
