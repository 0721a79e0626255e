"""Entry point: `flask --app app run` (see the Makefile) or `gunicorn 'app:create_app()'`."""

from care import create_app

__all__ = ["create_app"]
