"""The one exception type users see: a message they can act on, never a traceback."""


class TfclfError(Exception):
    """Bad input or an unusable environment, with a message that says what to do.

    CLIs catch it, log the message and exit with status 2. Library callers get it
    as a normal exception.
    """
