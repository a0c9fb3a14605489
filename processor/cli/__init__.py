"""The operator surface (CONTRACT 7): one module per subcommand, wired in `main`."""
