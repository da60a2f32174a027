"""HTTP interfaces: the FastAPI application and its routers."""
