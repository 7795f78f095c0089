"""What the web app (``app.py``) shows, testable without a browser: figures and example sentences."""

from .plot_template import install as _install_plot_template

_install_plot_template()   # every figure carries a template trimmed to what the page draws (plot_template.py)
