"""Everything that talks to an smlocal endpoint as a client: the `smlocal` commands, live
progress, the demo (and, later, export/import/compare/report).

The room's rule: a client module reaches the server only through the public API (boto3
SageMaker, S3 and CloudWatch Logs clients against the endpoint URL), so every command works the
same against a server on another machine. It may import `orchestrator.config` (defaults such as
the port) and `orchestrator.status` (botocore's enum values), never `orchestrator.api`,
`controller`, `runner`, `storage` or `app`.

The one exception is `local_server`: `smlocal serve`, and the server that `tune`/`demo` start
in-process when none answers, need the server itself. It imports `orchestrator.app` lazily, so a
command that talks to a running server never loads the server's code.
`tests/unit/client/test_imports.py` enforces both.

Modules: `cli` (argument parsing, one function per command), `endpoint` (boto3 clients, exit
codes, error reporting), `tune` (submit a request body and watch it), `progress` (rich views),
`logs` (a training job's log through CloudWatch Logs), `demo` (the bundled example),
`local_server` (serve / embedded server).
"""
