"""Run a function over a stream with a bounded number of calls in flight (no I/O of its own)."""

from __future__ import annotations

import collections
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(fn: Callable[[T], R], items: Iterable[T], *, workers: int) -> Iterator[R]:
    """Yield ``fn(item)`` for each item, in input order, with at most ``2 * workers`` pending.

    Unlike ``ThreadPoolExecutor.map`` it never reads the whole input ahead, so a stream of a
    million recipients stays in constant memory. ``fn`` must not raise for one bad item:
    each operator turns per-recipient failures into results instead.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    pending: collections.deque[Future[R]] = collections.deque()
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="blip") as pool:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
