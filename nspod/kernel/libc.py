"""ctypes access to the few libc calls Python 3.11's os module lacks."""
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)


def call(name, *args):
    """Call libc function `name`; raise OSError naming it when it returns -1."""
    fn = getattr(_libc, name)
    ret = fn(*args)
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return ret


def cstr(value):
    return None if value is None else os.fsencode(value)


def trim_heap():
    """Give the C heap's free pages back to the kernel (glibc's malloc_trim):
    a long-lived process keeps what start-up and finished work freed, else."""
    _libc.malloc_trim(0)
