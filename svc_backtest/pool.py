"""Warm worker processes for backtests: imports paid once per worker, never on the event loop.

Progress flows back through a multiprocessing queue; cancellation through a flag file the worker
checks between candles. A killed worker breaks the pool: it is rebuilt and the caller learns which
task was lost (WorkerLost), so the task is re-run or failed rather than stuck in `running`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import logging
import multiprocessing as mp
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any


log = logging.getLogger("hbmesh.backtest.pool")


class WorkerLost(Exception):
    pass


class WorkerPool:
    def __init__(self, size: int, cancel_dir: Path, on_progress: Callable[[str, float, dict], None],
                 user_controllers: Path):
        self.size = size
        self.user_controllers = user_controllers
        self.cancel_dir = cancel_dir
        cancel_dir.mkdir(parents=True, exist_ok=True)
        self._ctx = mp.get_context("spawn")  # no fork of a process holding sockets and threads
        self._queue = self._ctx.Queue()
        self._queue.cancel_join_thread()  # the stop sentinel below must never hold up interpreter exit
        self._on_progress = on_progress
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool = self._new_pool()
        self._reader = threading.Thread(target=self._read_progress, daemon=True, name="backtest-progress")

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        from . import worker

        return cf.ProcessPoolExecutor(self.size, mp_context=self._ctx, initializer=worker.init,
                                      initargs=(self._queue, str(self.cancel_dir), str(self.user_controllers)))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader.start()
        # Warm every worker now so the first backtest does not pay hummingbot's imports. A worker that
        # dies while starting gets one more chance with a fresh pool before the service gives up.
        for attempt in (1, 2):
            results = await asyncio.gather(*(self.run(_warm) for _ in range(self.size)), return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException)]
            if not failed:
                return
            if attempt == 2 or not isinstance(failed[0], WorkerLost):
                raise failed[0]
            log.warning("a backtest worker died while starting; retrying with a fresh pool")

    def _read_progress(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            task_id, pct, detail = item
            self._loop.call_soon_threadsafe(self._on_progress, task_id, pct, detail)

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except BrokenProcessPool:
            if self._pool is pool:
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise WorkerLost("the backtest worker process died") from None

    def cancel(self, task_id: str) -> None:
        (self.cancel_dir / task_id).touch()

    def clear(self, task_id: str) -> None:
        (self.cancel_dir / task_id).unlink(missing_ok=True)

    def pids(self) -> list[int]:
        return [p.pid for p in (self._pool._processes or {}).values()]

    async def close(self) -> None:
        """Stop the workers for good (a worker busy with an abandoned task is terminated)."""
        processes = list((self._pool._processes or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.terminate()
        await asyncio.to_thread(lambda: [p.join(10) for p in processes])
        self._queue.put(None)


def _warm() -> bool:
    return True
