"""Imported first by every stage: Ctrl-C and SIGTERM are one line from here on, even while the stage's own
imports (torch: seconds) load; without the project's package, one line saying how to get it."""

import os
import signal
import sys


def _early(signum, frame):  # until fmnist.interrupts takes over: nothing of the stage has started
    name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
    print(f"interrupted ({name}) while starting {os.path.basename(sys.argv[0])}; nothing is lost: `dvc repro` "
          "runs it again", file=sys.stderr, flush=True)
    os._exit(128 + signum)


signal.signal(signal.SIGINT, _early)
signal.signal(signal.SIGTERM, _early)

try:
    import fmnist  # noqa: F401
except ModuleNotFoundError:
    print(f"error: the fmnist package is not installed for {sys.executable}; activate the project's "
          "virtualenv (`. .venv/bin/activate`, after `make install`) and run again", file=sys.stderr)
    sys.exit(2)

from fmnist import interrupts  # noqa: E402

interrupts.install()
