"""Domain errors raised by services and translated to HTTP by ``api.errors``.

Services never know about HTTP; they raise these, and the API layer maps each one to a status
code with the single error body ``{"errors": {"<field>": ["<message>"]}}``.
"""

from __future__ import annotations

NON_FIELD = "non_field_errors"


class DomainError(Exception):
    def __init__(self, errors: dict[str, list[str]] | str) -> None:
        if isinstance(errors, str):
            errors = {NON_FIELD: [errors]}
        self.errors = errors
        super().__init__(str(errors))


class ValidationFailed(DomainError):
    """Input breaks a domain rule (400)."""


class NotPermitted(DomainError):
    """The actor can see the record but may not do this to it (403)."""


class Conflict(DomainError):
    """The write clashes with what is stored, e.g. a reused client id with other content (409)."""
