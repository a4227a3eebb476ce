"""One module per ``tutor`` subcommand, imported when that command runs."""
