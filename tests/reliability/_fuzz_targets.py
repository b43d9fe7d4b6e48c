"""Worker targets for testing the fuzz harness's watchdog (run inside the worker process)."""
from __future__ import annotations

import os
import signal
import time

from catrt import CatrtError


def scripted(data: bytes) -> str:
    """Behave as the input says: hang, raise, die, reject, or succeed."""
    if data == b"hang":
        time.sleep(60)
    if data == b"raise":
        raise KeyError("a bug")
    if data == b"die":
        os.kill(os.getpid(), signal.SIGSEGV)
    if data == b"reject":
        raise CatrtError("malformed")
    if data == b"memory":
        return str(len(bytearray(8 << 30)))   # over the worker's address-space cap
    return "ran"
