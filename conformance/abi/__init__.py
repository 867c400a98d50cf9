"""ctypes bindings for the kernel interfaces under test.

This package is the only place in the project that imports ctypes. Bindings raise
OSError carrying the real errno, record every call in the per-test syscall transcript
(see transcript.py) and contain no assertions.
"""
