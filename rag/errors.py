"""The one exception type the library raises for problems a user can fix."""


class RagError(Exception):
    """A user-facing error: its message names the problem and the fix."""
