"""The one exception type of the package: every failure the library reports."""


class Error(Exception):
    """A glmasr failure: `status` is the C API's status name ("input", "model", ...)."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}" if message else status)
        self.status = status
        self.message = message
