"""`SmLocal.DescribeServer`: who answers at this endpoint. A client asks it to learn that the
endpoint is smlocal (real SageMaker answers `UnknownOperationException`), which version, which
extension operations it serves, and the region and account its ARNs name."""

from __future__ import annotations

from typing import Any

from orchestrator import __version__
from orchestrator.controller.extensions import Context, Extension, discover

SHAPES: dict[str, dict[str, Any]] = {
    "DescribeServerRequest": {"type": "structure", "members": {}},
    "DescribeServerResponse": {
        "type": "structure",
        "required": ["Version", "Region", "AccountId", "ExtensionOperations"],
        "members": {
            "Version": {"shape": "String"},
            "Region": {"shape": "String"},
            "AccountId": {"shape": "AccountId"},
            "ExtensionOperations": {"shape": "SmLocalOperationNames"},
        },
    },
    "SmLocalOperationNames": {"type": "list", "member": {"shape": "String"}},
}


def describe_server(ctx: Context, request: dict[str, Any]) -> dict[str, Any]:
    return {"Version": __version__, "Region": ctx.settings.region,
            "AccountId": ctx.settings.account_id,
            "ExtensionOperations": [e.name for e in discover()]}


OPERATIONS = [Extension("DescribeServer", SHAPES, describe_server)]
