"""The valet server: REST API (OpenAPI at /api/docs), websockets and the web app."""

from valet.server._app import create_app
from valet.server._schemas import NewTask, PersonRequest, TaskStatus
from valet.server._serve import serve, server_url
from valet.server._settings import ModelChoice, ModelFactory, ServerSettings, load_or_create_token
from valet.server._tasks import TaskManager

__all__ = [
    "ModelChoice",
    "ModelFactory",
    "NewTask",
    "PersonRequest",
    "ServerSettings",
    "TaskManager",
    "TaskStatus",
    "create_app",
    "load_or_create_token",
    "serve",
    "server_url",
]
