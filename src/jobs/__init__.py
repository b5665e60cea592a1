"""Jobs: one module per ``customs-risk`` command.

Each module holds the command's typed options (a frozen dataclass of its inputs) and
``run(options) -> int``, the exit code: it calls the domain packages and prints the results.
``customs_risk.cli`` parses the command line, builds the options and calls ``run``; nothing but
the CLI imports this package, and the domain packages never import it (tests/test_architecture.py).
Domain imports stay inside ``run`` so that importing a job (and ``customs-risk --help``) is fast.
"""
