from gridlink.cli import app

app()
