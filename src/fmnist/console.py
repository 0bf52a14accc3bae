"""How a stage and a command meet the terminal: a fault in one line with its exit status, progress bars
only where someone watches.

The rule: no exception reaches the user as a traceback. A fault the user can act on (FmnistError) is its own
line; a write the machine refuses is a StorageError line naming the file; Ctrl-C and SIGTERM are the line of
fmnist.interrupts; anything else a library raises is one line naming it and its message
(FMNIST_TRACEBACK=1 shows the traceback as well, for a bug report).
"""

from __future__ import annotations

import functools
import os
import shlex
import signal
import sys
import traceback

from fmnist import interrupts
from fmnist.escaping import terminal
from fmnist.errors import FmnistError, storage_fault

def fault_line(exc: BaseException) -> str:
    """The one line for an exception: its message when it is ours, else what raised it and why."""
    if isinstance(exc, FmnistError):
        return str(exc)
    full = storage_fault(exc)
    if full is not None:
        return str(full)
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{os.fsdecode(exc.filename)}: {exc.strerror}"
    if isinstance(exc, MemoryError):
        return "out of memory (MemoryError); use a smaller batch_size or eval_batch_size, or a bigger machine"
    module = type(exc).__module__.split(".")[0]
    origin = "" if module == "builtins" else f" from {module}"
    message = str(exc).strip().splitlines()
    return (f"unexpected {type(exc).__name__}{origin}: {message[0] if message else 'no message'} "
            "(FMNIST_TRACEBACK=1 shows where)")


def speak_plainly() -> None:
    """Text that the terminal's encoding lacks comes out as escapes, never as a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError):
            pass  # replaced by a test harness or closed


def stage(main):
    """Run a stage's (or a command's) main(): a fault becomes one line on stderr and a non-zero exit status
    (2 for what the user can fix, 1 for anything else, 130 / 143 for Ctrl-C / SIGTERM)."""

    @functools.wraps(main)
    def run(argv=None):
        if argv is None:  # run as a program (a stage script; `fmnist` installs them itself), not from Python
            interrupts.install()
            speak_plainly()
        interrupts.doing("running " + shlex.join([os.path.basename(sys.argv[0] or "fmnist"), *sys.argv[1:]]))
        try:
            with interrupts.inside():
                result = main(argv)
        except BaseException as exc:
            signum = interrupts.received()  # a library may have turned the interrupt into another exception
            if signum is not None or isinstance(exc, KeyboardInterrupt):
                interrupts.exit_after(signum or signal.SIGINT)
            if not isinstance(exc, Exception):
                raise  # SystemExit: argparse's help or usage line, a stage's own exit
            if os.environ.get("FMNIST_TRACEBACK", "").strip() not in ("", "0"):
                traceback.print_exc()
            print(f"error: {terminal(fault_line(exc))}", file=sys.stderr)
            interrupts.leave(2 if isinstance(exc, FmnistError) or storage_fault(exc) is not None else 1)
        if interrupts.as_program():
            interrupts.leave(result)
        return result

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
