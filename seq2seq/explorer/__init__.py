"""What the web app (``app.py``) shows, testable without a browser: figures and example sentences."""
