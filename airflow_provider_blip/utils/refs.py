"""What the job's tasks hand each other through XCom: small references to run files (no I/O).

A chunked job never puts a recipient in XCom. The split hands each notify task a
:class:`ChunkRef`; a notify task hands its wait a :class:`ChunkOutcome`; a wait hands the
report a :class:`DeliveryRef`. They are typed dictionaries, because XCom stores JSON, and
this module is the one place that tells them apart.
"""

from __future__ import annotations

from typing import Any, TypedDict, TypeGuard


class ChunkRef(TypedDict):
    """One chunk of the audience, from ``BlipSplitAudienceOperator``.

    :param chunk: the chunk file's URI.
    :param index: the chunk's number, from 0.
    :param rows: how many audience rows it holds.
    """

    chunk: str
    index: int
    rows: int


class ChunkOutcome(TypedDict):
    """What ``BlipNotifyOperator`` did with one chunk.

    :param index: the chunk's number.
    :param results: the URI of the file with every recipient's result row.
    :param rows: how many rows the chunk held.
    :param messages: how many messages Blip accepted.
    :param counts: recipients per status.
    :param breaker: whether the job's failure breaker had tripped.
    """

    index: int
    results: str
    rows: int
    messages: int
    counts: dict[str, int]
    breaker: bool


class DeliveryRef(TypedDict):
    """What a delivery wait settled for one chunk (or one campaign run).

    :param delivery: the URI of the file with every row's final status.
    :param rows: how many rows it holds.
    :param counts: recipients per final status.
    """

    delivery: str
    rows: int
    counts: dict[str, int]


def is_chunk_ref(item: Any) -> TypeGuard[ChunkRef]:
    """Say whether an upstream value is a split's chunk reference."""
    return isinstance(item, dict) and isinstance(item.get("chunk"), str)


def is_chunk_outcome(item: Any) -> TypeGuard[ChunkOutcome]:
    """Say whether an upstream value is a notify task's outcome (not a result row)."""
    # A result row has a "row"; an outcome never does.
    return isinstance(item, dict) and isinstance(item.get("results"), str) and "row" not in item
