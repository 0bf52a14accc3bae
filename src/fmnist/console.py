"""How a stage and a command meet the terminal: a fault in one line with its exit status, progress bars
only where someone watches."""

from __future__ import annotations

import functools
import os
import sys

from fmnist.errors import FmnistError


def stage(main):
    """Run a stage's main(): a user-facing fault becomes one line on stderr and exit status 2."""

    @functools.wraps(main)
    def run(argv=None):
        try:
            return main(argv)
        except FmnistError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            sys.exit(130)

    return run


def progress_bars(setting: str | bool = "auto") -> bool:
    """Whether to draw progress bars: never when TQDM_DISABLE is set (tqdm's own switch, which an
    explicit `disable=` would otherwise override); `auto` only when stderr is a terminal, so logs
    (CI, nohup, `dvc queue logs`) get the one line per epoch and no bar redraws."""
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    if setting == "auto":
        return sys.stderr.isatty()
    return bool(setting)
