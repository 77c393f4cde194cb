"""Ends the trainer when the worker that started it dies.

The worker runs the trainer in its own process group so that cancelling can end the whole group;
the price is that a worker killed outright (OOM killer, kill -9) would leave the trainer running on
the GPUs with nobody listening. On Linux the kernel can send a signal when the parent dies: we ask for
SIGTERM, which makes the trainer checkpoint and exit like any other termination.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)
