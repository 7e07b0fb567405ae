from __future__ import annotations

from typing import Any

from django.core.paginator import InvalidPage
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any] | None:
        for name in ("page", "page_size"):
            raw = request.query_params.get(name)
            if raw is not None and (not raw.isdigit() or int(raw) < 1):
                raise exceptions.ValidationError({name: ["Must be a whole number of at least 1."]})
        try:
            return super().paginate_queryset(queryset, request, view)
        except exceptions.NotFound:
            raise exceptions.ValidationError({"page": ["This page is past the last page."]}) from None
        except InvalidPage:
            raise exceptions.ValidationError({"page": ["Invalid page."]}) from None
