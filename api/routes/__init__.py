"""The API's routes, one module per resource; each route calls ``queries/``."""
