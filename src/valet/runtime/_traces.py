"""OpenTelemetry traces over OTLP, when configured: a span per task, and pydantic-ai's spans of
each model call with the gen_ai semantic conventions (model, tokens, finish reasons).

Configured by the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
variable, or in `config.toml`:

```toml
[telemetry]
otlp_endpoint = "http://collector:4318"   # OTLP over HTTP
include_content = false                   # the default: prompts and replies stay out of traces
```

Prompts carry what pages and mails said (and may carry personal data), so they are left out of
the spans unless `include_content = true`. Nothing is set up (and nothing is imported beyond
the OpenTelemetry API) when no endpoint is configured.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from contextlib import contextmanager
from typing import Any, cast

from valet.errors import ConfigError

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


class Tracing:
    """Traces exported over OTLP; `close()` flushes what is pending."""

    def __init__(self, provider: Any) -> None:
        self._provider = provider

    def close(self) -> None:
        self._provider.shutdown()


def start_tracing(config: dict[str, Any]) -> Tracing | None:
    """Export traces when an OTLP endpoint is configured (else None); raises `ConfigError`
    for a `[telemetry]` table it cannot use."""
    raw: object = config.get("telemetry", {})
    if not isinstance(raw, dict):
        raise ConfigError("config.toml: [telemetry] must be a table")
    table = cast(dict[str, object], raw)
    if unknown := set(table) - {"otlp_endpoint", "include_content"}:
        raise ConfigError(
            f"config.toml: [telemetry] has no {', '.join(sorted(unknown))} "
            "(it takes otlp_endpoint, include_content)"
        )
    endpoint = table.get("otlp_endpoint")
    if endpoint is not None and (
        not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://"))
    ):
        raise ConfigError(
            f"config.toml: [telemetry] otlp_endpoint must be an http(s) URL, not {endpoint!r}"
        )
    include = table.get("include_content", False)
    if not isinstance(include, bool):
        raise ConfigError("config.toml: [telemetry] include_content is true or false")
    from_env = any(os.environ.get(name) for name in _ENDPOINT_VARIABLES)
    if endpoint is None and not from_env:
        return None

    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from pydantic_ai import Agent
    from pydantic_ai.models.instrumented import InstrumentationSettings

    exporter = (
        OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
        if isinstance(endpoint, str)
        else OTLPSpanExporter()
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "valet"}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    Agent.instrument_all(
        InstrumentationSettings(
            tracer_provider=provider, include_content=include, include_binary_content=False
        )
    )
    return Tracing(provider)


@contextmanager
def task_span(task_id: str, model: str | None) -> Generator[None]:
    """A span around one task's run (a no-op without tracing)."""
    from opentelemetry import trace

    tracer = trace.get_tracer("valet")
    attributes = {"valet.task.id": task_id, "gen_ai.request.model": model or ""}
    with tracer.start_as_current_span("valet task", attributes=attributes):
        yield
