"""Portal pages, one module per page group; `portal/urls.py` maps them."""
