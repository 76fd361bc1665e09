from magicplan.cli._app import app  # placeholder
