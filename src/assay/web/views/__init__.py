"""The UI's views, one module per page family (`assay.web.routes` maps the URLs)."""
