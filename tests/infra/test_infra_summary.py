"""The template summary (for the local-provisioner comparison) agrees with the declaration."""

from __future__ import annotations

from typing import Any

import pytest
from segflow.declaration import (
    FUNCTIONS,
    HTTP_APIS,
    STATE_MACHINES,
    TABLES,
    WEBSOCKET_APIS,
    resource_env_vars,
    settings_environment,
)
from segflow.domain.limits import EXECUTION_DATA_RETENTION_DAYS
from segflow_infra.summary import (
    HttpApiSummary,
    IndexSummary,
    TableSummary,
    WebSocketApiSummary,
    load_template,
    summarize_template,
)

from tests.infra.infra_helpers import api_functions

pytestmark = pytest.mark.infra


def test_summary_matches_declaration(synth: Any) -> None:
    summary = summarize_template(load_template(synth.outdir, synth.stack_name))
    assert {logical_id: fn.handler for logical_id, fn in summary.functions.items()} == {
        spec.logical_id: spec.handler for spec in FUNCTIONS
    }
    from segflow_infra.api_auth import API_AUTH_ENV, TENANT_CLAIM_ENV

    for spec in FUNCTIONS:
        expected = (
            {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}
            | set(settings_environment(spec, EXECUTION_DATA_RETENTION_DAYS, ""))
            | set(resource_env_vars(spec))
        )
        if spec.logical_id in api_functions():
            expected |= {API_AUTH_ENV, TENANT_CLAIM_ENV}
        assert summary.functions[spec.logical_id].env_var_names == expected | set(spec.environment)
    assert summary.tables == {
        spec.logical_id: TableSummary(
            partition_key=spec.partition_key,
            sort_key=spec.sort_key,
            ttl_attribute=spec.ttl_attribute,
            stream=spec.stream,
            global_indexes={
                index.name: IndexSummary(index.partition_key, index.sort_key) for index in spec.global_indexes
            },
        )
        for spec in TABLES
    }
    assert summary.substitutions == {spec.logical_id: spec.substitutions for spec in STATE_MACHINES}
    assert summary.http_apis == {
        spec.logical_id: HttpApiSummary(
            routes=frozenset((route.method, route.path) for route in spec.routes),
            functions=frozenset({spec.function}),
            authorization_types=frozenset(
                {"AWS_IAM"} | ({"NONE"} if any(r.public for r in spec.routes) else set())
            ),
        )
        for spec in HTTP_APIS
    }
    assert summary.websocket_apis == {
        spec.logical_id: WebSocketApiSummary(
            routes=frozenset(spec.routes),
            functions=frozenset({spec.function}),
            route_selection=spec.route_selection,
        )
        for spec in WEBSOCKET_APIS
    }
