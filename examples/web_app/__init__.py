"""A small web app on funnelkit: FastAPI in front of `Service` and `SqlStore` (see app.py)."""
