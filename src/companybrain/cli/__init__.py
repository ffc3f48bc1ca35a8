"""The `brain` command line: thin commands over the Brain facade."""
