"""The permission class that starts the audit trail (``recovery/audit/recording.py``).

A module of its own because DRF imports its default permission classes while ``rest_framework.views``
is still loading: nothing here may import a view.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from recovery.audit.recording import begin


class AuditTrail(BasePermission):
    """Never refuses. The last default permission class, so it runs for every authenticated API view
    once DRF knows the user: starts the trail of a staff member's request (and, for a write, the
    transaction its audit rows commit with) before the view reads anything."""

    def has_permission(self, request: Request, view: Any) -> bool:
        begin(request._request, request.user, request.auth)
        return True
