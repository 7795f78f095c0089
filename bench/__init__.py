"""Benchmarks and measuring scripts, outside the library: neither the app nor ``seq2seq`` imports them, and the
Space does not get them (``seq2seq/tools/hub.py``'s allow-list). Each runs from the project's root as
``python bench/NAME.py`` (see its docstring); this file only lets the tests import them as ``bench.NAME``."""
