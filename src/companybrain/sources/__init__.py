"""Source connectors (files, SQL databases) and the loader that lands them in the raw layer."""
