"""Every error convrec raises on purpose, with messages a user can act on."""


class ConvrecError(Exception):
    """Base class: the CLI prints these as one line and exits 2, with no traceback."""


class CatalogError(ConvrecError):
    """A catalogue or interaction file is missing or malformed (the message names file, line, field)."""


class ModelNotFound(ConvrecError):
    """A model could not be found in any configured place."""


class EncoderUnsupported(ConvrecError):
    """An embedding model cannot run on the chosen backend (the message names the setting to change)."""


class ChecksumMismatch(ConvrecError):
    """Downloaded or joined model bytes do not hash to the expected value."""


class IndexMissing(ConvrecError):
    """index/ is absent, incomplete or built from other inputs than the current config."""


class LLMError(ConvrecError):
    """The language model failed, timed out or returned output that could not be used.

    The message is for the log and the operator: it may name the server and quote its answer.
    `reason` is a short code that is safe to show anyone: "timeout", "unreachable",
    "server error" (the model or its server refused the request), "bad answer" or "error".
    """

    def __init__(self, message: str = "", *, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class InputError(ConvrecError):
    """A user message that cannot be processed (empty, too long)."""


class ImageError(InputError):
    """A picture that cannot be used: a missing file, not an image, an HTTP error or a timeout."""


class RateLimited(ConvrecError):
    """One client asked for more than its share (HTTP 429); `retry_after_s` says when to retry."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreUnavailable(ConvrecError):
    """The database that keeps conversations and feedback cannot be reached or written (HTTP 503);
    the message names it and what to check."""


class SparkError(ConvrecError):
    """Spark could not train: no Java, an unreachable master, or the JVM stopped during the job;
    the message says which and what to do."""


class SparkJobError(SparkError):
    """Spark started but its JVM, or the connection to it, failed during the job: a job on a new
    session may succeed."""
