"""One background thread for a run's tracking calls: a slow or locked store never holds training up.

The calls run in the order they were given. The thread is a daemon: a process that ends (an interrupt, the
stage done) never waits on a store that does not answer; what it had not logged, `fmnist mlflow sync` logs.
"""

from __future__ import annotations

import queue
import threading
from typing import Callable


class Worker:
    def __init__(self, name: str = "mlflow-tracking"):
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._pending = 0
        self._name, self._thread = name, None

    def submit(self, task: Callable[[], None]) -> None:
        """Run `task` after those given before. It must handle its own faults; one that escapes is dropped."""
        with self._lock:
            self._pending += 1
            self._idle.clear()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        self._tasks.put(task)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every task given so far has run; False when `timeout` seconds passed first."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            try:
                task()
            except BaseException:  # noqa: BLE001 - a task reports its own faults; the thread must go on
                pass
            finally:
                with self._lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()
