"""Parameter sweeps of gossip studies on any `concurrent.futures.Executor`.

    recs = sweep({"nodes": [32, 64], "loss": [0.0, 0.1]}, seeds=range(5), crash=1)
    to_csv(recs, "gossip.csv")

Local processes by default; `dask_executor("tcp://scheduler:8786")` runs the same sweep on a
Dask cluster.  Records come back in grid order (nodes, then loss, ..., then seed), whatever order
the runs finish in, so a sweep is reproducible wherever it runs.
"""

from __future__ import annotations

import csv
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any


def run_one(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run one study and return its record (a picklable top-level function for executors)."""
    from cnmsim.swarm.gossip.study import run_study

    return run_study(**kwargs).as_record()


def grid_points(grid: Mapping[str, Sequence[Any]], seeds: Iterable[int] = (0,),
                **fixed: Any) -> list[dict[str, Any]]:
    """Every combination of the grid's values, for each seed, with `fixed` arguments added."""
    keys = list(grid)
    seeds = list(seeds)
    return [
        {**fixed, **dict(zip(keys, combo, strict=True)), "seed": s}
        for combo in itertools.product(*(grid[k] for k in keys))
        for s in seeds
    ]


def sweep(
    grid: Mapping[str, Sequence[Any]],
    seeds: Iterable[int] = (0,),
    executor: Executor | None = None,
    progress: bool = True,
    **fixed: Any,
) -> list[dict[str, Any]]:
    """Run `run_study` at every grid point and seed on `executor` (a process pool of its own
    when None) and return the records in grid order."""
    points = grid_points(grid, seeds, **fixed)
    own = executor is None
    if executor is None:
        executor = ProcessPoolExecutor(max_workers=max(1, min(len(points), os.cpu_count() or 1)))
    try:
        futures: dict[Future[dict[str, Any]], int] = {
            executor.submit(run_one, p): i for i, p in enumerate(points)
        }
        out: list[dict[str, Any] | None] = [None] * len(points)
        for fut, i in _progress(futures, len(points), progress):
            out[i] = fut.result()
    finally:
        if own:
            executor.shutdown(wait=True, cancel_futures=True)
    return [r for r in out if r is not None]


def _progress(futures: dict[Future[Any], int], total: int, show: bool) -> Any:
    """Yield (future, index) as they complete, with a rich progress bar when `show`."""
    if not show:
        for fut in as_completed(futures):
            yield fut, futures[fut]
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    cols = (TextColumn("gossip sweep"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*cols, transient=False) as bar:
        task = bar.add_task("runs", total=total)
        for fut in as_completed(futures):
            bar.advance(task)
            yield fut, futures[fut]


def to_csv(records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write records as CSV (columns: every key, in first-seen order); returns the path."""
    cols: dict[str, None] = {}
    for r in records:
        cols.update(dict.fromkeys(r))
    p = Path(path)
    with p.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(cols), restval="")
        w.writeheader()
        for r in records:
            w.writerow({k: "" if v is None else v for k, v in r.items()})
    return p


def dask_executor(address: str | None = None, **client_kwargs: Any) -> Executor:
    """A `concurrent.futures` executor on a Dask cluster: the scheduler at `address`, or a
    new local cluster when None.  Close it with `executor.shutdown()`; its client is closed
    then too."""
    from distributed import Client

    client = Client(address, **client_kwargs)
    ex = client.get_executor(pure=False)
    plain_shutdown = ex.shutdown

    def shutdown(wait: bool = True, *, cancel_futures: bool = False) -> None:
        plain_shutdown(wait=wait)
        client.close()

    ex.shutdown = shutdown  # type: ignore[method-assign]
    ex.client = client  # type: ignore[attr-defined]
    return ex
