"""Page-number pagination with a client-chosen page size, capped so a client cannot ask for everything."""

from django.conf import settings
from rest_framework.pagination import PageNumberPagination


class PorticoPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.PORTICO_MAX_PAGE_SIZE
