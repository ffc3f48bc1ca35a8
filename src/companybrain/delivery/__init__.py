"""Delivery: the HTTP service (FastAPI) over the Brain facade. The core never imports this package."""
