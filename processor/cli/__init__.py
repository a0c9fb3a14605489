"""The operator surface (docs/configuration.md): one module per subcommand, wired in `main`."""
