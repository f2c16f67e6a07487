"""The local web dashboard: FastAPI JSON API, Jinja2 pages, plain JavaScript with plotly.js."""
