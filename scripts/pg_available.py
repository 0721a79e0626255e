"""Exit 0 when a PostgreSQL server answers at the URL given (used by `make test`)."""

import sys

import psycopg

url = sys.argv[1].replace("postgresql+psycopg://", "postgresql://")
try:
    psycopg.connect(url, connect_timeout=3).close()
except psycopg.Error:
    sys.exit(1)
