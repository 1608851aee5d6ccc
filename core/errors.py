"""The one exception type for bad user input (files, exports, configs).

Messages name the file or task and say what to do; the CLI prints them as one line
instead of a traceback.
"""


class InputError(Exception):
    """User-supplied input cannot be used as it is. The message says where and how to fix it."""
