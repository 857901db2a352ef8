"""The domain exceptions every core module raises and only the CLI catches."""

from __future__ import annotations


class ProvError(Exception):
    """Base of every error prov reports to a user as one clear line."""

    # 1: some input failed or a check failed; 2: the command as typed cannot run.
    exit_code = 1


class UsageProblem(ProvError):
    """The command line names something wrongly; the message says how to fix it."""

    exit_code = 2


class BadInput(ProvError):
    """One input (a file, a value) cannot be used; the rest of a batch goes on."""

    def __init__(self, subject: str, reason: str) -> None:
        super().__init__(f"{subject}: {reason}")
        self.subject = subject
        self.reason = reason


class NotFound(UsageProblem):
    """An item, claim, actor or place the user named does not exist."""


class Ambiguous(UsageProblem):
    """A prefix or name matches more than one thing; the message lists them."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


class Integrity(ProvError):
    """The database or evidence store is not in the state the log says."""
