"""The `edgeseg` command line."""
