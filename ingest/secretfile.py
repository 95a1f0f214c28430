"""Secrets read from files: a Redis password or a TLS key passphrase (standard library only).

A file rather than a flag or a variable keeps the secret out of ``ps`` and out of the
process environment (which child processes inherit and crash reporters collect). It is how
systemd passes credentials (``LoadCredential=`` puts the file in ``$CREDENTIALS_DIRECTORY``,
the ``%d`` specifier in a unit) and how Kubernetes mounts a Secret as a volume.

The value is the file's text with one trailing line break removed (``echo pw > file`` and
``kubectl create secret --from-literal`` both work); every other byte is kept. Each value read
is registered with :func:`ingest.redaction.register_secret`, so it is masked in any text the
process writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ingest.redaction import register_secret

MAX_SECRET_BYTES = 4096
"""A larger file is refused: a password or passphrase is short; a large file is the wrong one."""


@dataclass(frozen=True, slots=True)
class SecretFile:
    """A secret and the file it was read from; ``repr`` and ``str`` show only the path.

    Attributes:
        path: the file, as given.
        value: the secret (not shown by ``repr``).
    """

    path: str
    value: str = field(repr=False)

    def __str__(self) -> str:
        return self.path

    @classmethod
    def read(cls, path: str) -> SecretFile:
        """Read the secret in ``path`` (see the module docstring) and register it.

        Raises:
            ValueError: the file cannot be read, is empty, larger than
                :data:`MAX_SECRET_BYTES` or not UTF-8; the message names the path and the
                reason, never the content.
        """
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
        if len(raw) > MAX_SECRET_BYTES:
            raise ValueError(f"{path} holds {len(raw)} bytes: not a password file?")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path} is not UTF-8 text") from None
        text = text.removesuffix("\n").removesuffix("\r")
        if not text:
            raise ValueError(f"{path} is empty")
        register_secret(text)
        return cls(path, text)


def secret_file(text: str) -> SecretFile:
    """Option parser: read the secret file named by ``text`` (see :meth:`SecretFile.read`)."""
    if not text:
        raise ValueError("must name a file")
    return SecretFile.read(text)


def readable_file(text: str) -> str:
    """Option parser: a path to a readable regular file (a certificate, a key), returned as given.

    Raises:
        ValueError: missing, a directory, or not readable by this process.
    """
    if not text:
        raise ValueError("must name a file")
    path = Path(text)
    try:
        with path.open("rb"):
            pass
    except IsADirectoryError:
        raise ValueError(f"{text} is a directory, not a file") from None
    except OSError as exc:
        raise ValueError(f"cannot read {text}: {exc.strerror or exc}") from None
    return text
