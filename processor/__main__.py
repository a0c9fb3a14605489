"""`python -m processor` is the `bsuid-processor` console script."""

from processor.cli.main import main

main()
