"""mae_cli: the `mae` command-line tool. Thin: options in, one call into mae_core/official_mae, tables or JSON out."""
