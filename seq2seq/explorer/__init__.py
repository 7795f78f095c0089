"""What the web app (``app.py``) shows, testable without a browser: the service (what is computed for a request),
the figures and texts that show it, the tabs' callbacks, the API and the example sentences."""
