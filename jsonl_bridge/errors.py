"""One small error tree. Every message names where the problem is, compiler style.

Each class carries the exit code the CLI uses for it (`exit_code`); the library never prints
or exits. Per-record problems subclass `RecordError` and carry a `reason`, so that
`convert` can turn them into rejects instead of stopping the run.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error jsonl_bridge raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, field: str | None = None):
        self.message = message
        self.where = where
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}" if self.field else self.message
        return f"{self.where}: {text}" if self.where else text


class UsageError(BridgeError):
    """The call is wrong: unknown option, bad flag combination, unknown preset."""


class UnknownAdapterError(UsageError, LookupError):
    """No adapter has the requested name."""


class AdapterLoadError(BridgeError):
    """A registered adapter (usually a plugin) failed to import."""


class OutputError(BridgeError):
    """An output file cannot be written (missing permission, full disk, a folder in the way)."""


class InputError(BridgeError):
    """The export as a whole cannot be read: malformed, truncated, wrong format, unsafe."""

    exit_code = 3


class MappingError(UsageError):
    """A mapping file is invalid; `problems` lists every `file:line:col: message`."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


class RecordError(BridgeError):
    """One task cannot become an example; `reason` is the rejects-file key."""

    reason = "invalid"
    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        field: str | None = None,
        detail: object = None,
        annotators: list[str] | None = None,
    ):
        self.detail = detail
        self.annotators = annotators or []
        super().__init__(message, where=where, field=field)


class UnorderedError(RecordError):
    """`select: first` or `latest` among annotations with no times and no ids (doccano keeps
    neither): any choice would be a silent one, by file or user-name order."""

    reason = "unordered"


class TemplateError(RecordError):
    """A template failed on this task's data (undefined variable, bad filter input)."""

    reason = "template"


class LabelError(RecordError):
    """An annotation uses a label outside `labels.allowed` under `unknown: reject`."""

    reason = "label"


class EmptyAnswerError(RecordError):
    """Nothing is left to put in the assistant message."""

    reason = "empty"


class DisagreementError(RecordError):
    """Annotators gave different answers and the selection policy cannot choose."""

    reason = "disagreement"


class FieldBindingError(RecordError):
    """A field the mapping needs is not in this task."""

    reason = "field"


class ImageError(RecordError):
    """An image of the task cannot be embedded; each subclass is one rejects reason, so the
    summary tells a missing folder from a corrupt file from a refused URL."""

    reason = "image"


class ImageNotFoundError(ImageError):
    """No image root (or the export itself) holds the referenced file."""

    reason = "image_not_found"


class ImageRefusedError(ImageError):
    """Resolving it would break a safety rule: a remote URL without --allow-remote, a private
    address without --allow-private-hosts, a path outside every image root."""

    reason = "image_refused"


class ImageInvalidError(ImageError):
    """The bytes are not a usable image: not an image at all, truncated, corrupt, or not the
    size the annotations were drawn on."""

    reason = "image_invalid"


class ImageTooLargeError(ImageError):
    """Too many pixels (a decompression bomb), too many bytes to download, or still above
    `images.max_bytes` after re-encoding."""

    reason = "image_too_large"


class ImageFetchError(ImageError):
    """A remote image could not be downloaded: network error, timeout, HTTP error status."""

    reason = "image_fetch"
