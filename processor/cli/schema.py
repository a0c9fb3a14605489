"""`bsuid-processor schema`: the JSON Schemas of the published events and of our files."""

from __future__ import annotations

from pathlib import Path

import click

from processor.schema_files import BY_NAME, REGENERATE, SCHEMA_DIR, render, stale, write


@click.command()
@click.argument("name", required=False, type=click.Choice(list(BY_NAME)))
@click.option("--write", "write_files", is_flag=True, help="(Re)write every schema file")
@click.option("--check", is_flag=True, help="Exit 1 when a schema file is out of date")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=SCHEMA_DIR,
    show_default=True,
    help="Where the schema files are",
)
def schema(name: str | None, write_files: bool, check: bool, directory: Path) -> None:
    """Print the JSON Schema (2020-12) of NAME, generated from the code.

    Without NAME, list the schemas. --write regenerates the checked-in files (after a change
    to a Struct in schemas/); --check tells whether they are up to date.
    """
    if write_files:
        changed = ", ".join(write(directory)) or "none"
        click.echo(f"wrote {len(BY_NAME)} schema(s) to {directory}; changed: {changed}")
        return
    if check:
        out_of_date = stale(directory)
        if out_of_date:
            raise click.ClickException(
                f"out of date in {directory}: {', '.join(out_of_date)}; regenerate: {REGENERATE}"
            )
        click.echo(f"{len(BY_NAME)} schema(s) in {directory} are up to date")
        return
    if name is None:
        for document in BY_NAME.values():
            click.echo(f"{document.name:<14} {document.file:<28} {document.summary}")
        return
    click.echo(render(BY_NAME[name]), nl=False)
