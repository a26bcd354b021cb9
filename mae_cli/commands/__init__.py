"""One module per `mae` subcommand; each defines one function that app.py registers."""
