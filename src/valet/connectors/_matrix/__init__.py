"""The `matrix` connector: the person's Matrix account as a toolset (list rooms, read a room's
recent messages, post, reply, join), over the client-server API with plain HTTP.

    [[connectors]]
    name = "chat"
    connector = "matrix"
    homeserver = "https://matrix.example.org"
    credential = "matrix"          # vault credential bound to matrix.example.org
    # auth = "password"            # sign in with the credential's username and password
    # footer = false               # no visible "sent by valet" line

Reading is allowed; posting and replying (`send`) and joining a room (`update`) ask the person
unless a grant or rule allows them. Every message valet posts carries
`"org.valet.task": "<task id>"` in its content and, unless `footer = false`, a visible line
saying valet sent it. Messages read are untrusted data (the gateway tags them). Rooms with
end-to-end encryption are not supported: valet says so rather than post in clear.
"""

from valet.connectors._matrix._client import CLIENT_API
from valet.connectors._matrix._connector import MATRIX, MatrixConnector
from valet.connectors._matrix._rooms import TASK_KEY, transaction_id
from valet.connectors._matrix._settings import MatrixAuth, MatrixSettings

__all__ = [
    "CLIENT_API",
    "MATRIX",
    "TASK_KEY",
    "MatrixAuth",
    "MatrixConnector",
    "MatrixSettings",
    "transaction_id",
]
