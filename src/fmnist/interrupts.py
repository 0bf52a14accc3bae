"""Ctrl-C and SIGTERM: one line saying what was interrupted, a prompt exit with 130 / 143, nothing half-written.

Inside a stage's main() the signal raises `Interrupted` (a KeyboardInterrupt) in the main thread, so `with`
blocks unwind: temp files are removed, the MLflow run is marked KILLED, the stage wrapper prints the line.
Python runs that handler only between bytecodes, though, and a main thread waiting in C (sqlite waits up to
20 s on a locked MLflow store) would exit that much later. So a watchdog thread, woken through the signal
wakeup fd the moment the signal lands, ends the process GRACE seconds later if it is still there. Ending it
then loses nothing: every file is written to a temp file and renamed (fmnist.files), and the checkpoint of
the last finished epoch is whole. Outside main() (the imports, the interpreter's exit) and at a second
signal, the process ends at once with the same line.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import warnings

GRACE = 3.0  # seconds from the signal to the exit, whatever the main thread is waiting for
SIGNALS = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM"}

_state = {"what": None, "resume": None, "inside": False, "signal": None, "said": False, "installed": False,
          "leaving": False}
_lock = threading.Lock()


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread; `status` is the exit status (128 + the signal)."""

    def __init__(self, signum: int):
        super().__init__(SIGNALS.get(signum, f"signal {signum}"))
        self.signum, self.status = signum, 128 + signum


def doing(what: str, resume: str | None = None) -> None:
    """What the process is doing now, and how `dvc repro` goes on after an interrupt, for the line."""
    _state["what"], _state["resume"] = what, resume


def line(signum: int) -> str:
    """The line an interrupt prints."""
    what = _state["what"] or f"starting {os.path.basename(sys.argv[0] or 'fmnist')}"
    resume = _state["resume"] or "nothing is lost: `dvc repro` runs it again"
    return f"interrupted ({SIGNALS.get(signum, signum)}) while {what}; {resume}"


def say(signum: int) -> None:
    """Print the line once (the handler, the stage wrapper and the watchdog may each get there)."""
    with _lock:
        if _state["said"]:
            return
        _state["said"] = True
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    print(line(signum), file=sys.stderr, flush=True)


def hush() -> None:
    """From the interrupt on, what libraries log or warn while unwinding is noise: a KeyboardInterrupt raised
    inside sqlalchemy is logged by it with the whole traceback. Silence it, and threads' tracebacks too."""
    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    threading.excepthook = lambda args: None
    sys.unraisablehook = lambda unraisable: None


def received() -> int | None:
    """The signal that interrupted main(), if one did."""
    return _state["signal"]


def exit_now(signum: int) -> None:
    say(signum)
    os._exit(128 + signum)


def exit_after(signum: int) -> None:
    """The stage wrapper's end of an interrupt once main() has unwound (temp files removed, the run closed):
    the line, and out. Not through the interpreter's own exit: it would close the sqlite connection that a
    tracking thread still waits on, and wait with it (up to 20 s on a locked store)."""
    if not _state["installed"]:  # main() called from Python (a test): a plain exit, nothing of the caller's touched
        print(line(signum), file=sys.stderr)
        sys.exit(128 + signum)
    _state["signal"] = _state["signal"] or signum
    hush()
    exit_now(signum)


def as_program() -> bool:
    """Whether this process took the signals over (a stage script, the `fmnist` command), not a test's caller."""
    return _state["installed"]


def leave(status=0) -> None:
    """main() is over, its files whole: exit with `status` (sys.exit's meaning: None 0, a text printed and 1).
    As a program at once (os._exit), not through the interpreter's own exit: that restores the default signal
    dispositions early on, so a Ctrl-C in its last moments would end the process without a word, and it closes
    the sqlite connection that a tracking thread may still wait on, waiting with it."""
    if not _state["installed"]:
        sys.exit(status)
    _state["leaving"] = True  # a signal from here on changes nothing: the status stands
    if status is not None and not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(status or 0)


def _handler(signum, frame):
    if _state["leaving"]:
        return
    if _state["signal"] is not None or not _state["inside"]:
        exit_now(_state["signal"] or signum)  # a second signal, or none of main()'s `with` blocks to unwind
    _state["signal"] = signum
    hush()
    raise Interrupted(signum)


def _watch(read_fd: int) -> None:
    """The watchdog: block on the wakeup fd; after a SIGINT or SIGTERM, give the main thread GRACE seconds."""
    while True:
        try:
            data = os.read(read_fd, 64)
        except InterruptedError:
            continue
        except OSError:
            return
        hits = [b for b in data if b in SIGNALS]
        if hits:
            threading.Event().wait(GRACE)
            exit_now(_state["signal"] or hits[0])


def install() -> None:
    """Take over SIGINT and SIGTERM for this process (from the main thread; again is a no-op)."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    for signum in SIGNALS:
        signal.signal(signum, _handler)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read_fd,), name="interrupt-watchdog", daemon=True).start()
    _state["installed"] = True


class inside:
    """The span of a stage's main(): there an interrupt raises, so that its `with` blocks unwind."""

    def __enter__(self):
        _state["inside"] = True
        return self

    def __exit__(self, *exc):
        _state["inside"] = False
        return False
