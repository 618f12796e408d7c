"""The one exception type users see: a message that names the file, the field and what was expected."""


class EdgekitError(Exception):
    """A user-facing error. The CLI prints its message and exits with status 2."""
