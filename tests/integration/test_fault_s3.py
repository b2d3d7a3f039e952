"""S3 failing while a training job stages its input or uploads its artifacts (issue 15), on every
engine. The backend's S3 traffic goes through a proxy that answers 500 or cuts a request's body
short, for the requests a test chooses: failures are retried (the S3 client's retries, then
RetryStrategy for staging), then the job fails saying what failed; a model.tar.gz is at its
final key complete or not at all, and nothing is left behind."""

# Fixtures are imported from runner_fixtures; pytest passes them as arguments.
# ruff: noqa: F811

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from orchestrator.runner.base import Channel
from tests.integration.runner_fixtures import env, probe_image, s3_server  # noqa: F401

# A rule sees (method, path) and says what to do with the request: None (forward it), "fail"
# (answer 500 InternalError without forwarding) or "cut" (forward half of the body, then drop
# both connections, as a network failure mid-upload).
Rule = Callable[[str, str], str | None]


class FaultProxy:
    def __init__(self, upstream: str, rule: Rule) -> None:
        self.rule, self.hits = rule, []
        target = urlsplit(upstream)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _body(self) -> bytes:
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    data = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return data
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self) -> None:
                body = self._body()
                action = proxy.rule(self.command, self.path)
                proxy.hits.append((self.command, self.path, action))
                if action == "fail":
                    payload = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>"
                               b"InternalError</Code><Message>injected</Message></Error>")
                    self.send_response(500)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("transfer-encoding", "content-length", "host")}
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
                if action == "cut":
                    conn.putrequest(self.command, self.path, skip_host=False)
                    for k, v in headers.items():
                        conn.putheader(k, v)
                    conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body[: len(body) // 2])
                    conn.close()
                    self.close_connection = True
                    return
                conn.request(self.command, self.path, body=body,
                             headers={**headers, "Content-Length": str(len(body))})
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, action: str) -> int:
        return sum(a == action for _m, _p, a in self.hits)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def faulty(env) -> Iterator[Callable[[Rule], object]]:
    """`faulty(rule)`: a backend on `env`'s engine whose S3 goes through a FaultProxy."""
    made: list = []

    def make(rule: Rule):
        proxy = FaultProxy(env.s3.url, rule)
        backend = env.new_backend(s3_url=proxy.url)
        made.append((proxy, backend))
        return proxy, backend

    yield make
    for proxy, backend in made:
        backend.close()
        proxy.close()


def _model_put(method: str, path: str) -> bool:
    return method in ("PUT", "POST") and "/model.tar.gz" in path


def test_artifact_upload_failing_for_good_fails_the_job_without_a_model(env, faulty) -> None:
    proxy, backend = faulty(lambda m, p: "fail" if _model_put(m, p) else None)
    spec = env.spec(hyperparameters={"model_files": "m.bin", "output_files": "o.txt"},
                    max_retry_attempts=2)
    backend.launch(spec, env.sink)
    outcome = env.sink.outcome(spec.name)
    assert outcome.kind == "internal_error", outcome
    assert outcome.failure_reason.startswith("Uploading the job's artifacts failed: uploading "
                                             f"s3://{env.bucket}/out/{spec.name}/output/"
                                             "model.tar.gz failed"), outcome.failure_reason
    assert "Traceback" not in outcome.failure_reason
    assert proxy.count("fail") >= 3  # the S3 client's own retries came first
    assert env.model_key(spec) not in env.s3.keys(env.bucket)
    assert env.s3.client.list_multipart_uploads(Bucket=env.bucket).get("Uploads", []) == []
    env.wait_cleaned(spec.name, backend)


def test_an_upload_cut_short_is_retried_and_the_model_is_whole(env, faulty) -> None:
    cuts: list[str] = []

    def rule(method: str, path: str) -> str | None:
        if _model_put(method, path) and not cuts:
            cuts.append(path)
            return "cut"
        return None

    proxy, backend = faulty(rule)
    spec = env.spec(hyperparameters={"model_files": "a.bin,sub/b.bin"})
    backend.launch(spec, env.sink)
    outcome = env.sink.outcome(spec.name)
    assert outcome.kind == "completed" and outcome.model_uploaded, outcome
    assert proxy.count("cut") == 1
    assert set(env.s3.tar_members(env.bucket, env.model_key(spec))) == {"a.bin", "sub/b.bin"}
    env.wait_cleaned(spec.name, backend)


def test_input_download_failing_is_retried_then_fails_the_job(env, faulty) -> None:
    env.s3.put(env.bucket, "in/train.csv", b"1,2\n")
    proxy, backend = faulty(lambda m, p: "fail" if m == "GET" and p.endswith("/train.csv")
                            else None)
    spec = env.spec(channels=(Channel("train", f"s3://{env.bucket}/in/"),),
                    max_retry_attempts=1)
    backend.launch(spec, env.sink)
    outcome = env.sink.outcome(spec.name)
    assert outcome.kind == "internal_error", outcome
    assert outcome.failure_reason.startswith(
        f"downloading s3://{env.bucket}/in/train.csv failed"), outcome.failure_reason
    assert env.sink.status_list(spec.name) == ["Starting", "Downloading"] * 2
    assert proxy.count("fail") >= 6  # 3 tries by the S3 client, in each of the 2 attempts
    assert env.s3.keys(env.bucket, f"out/{spec.name}/") == []
    env.wait_cleaned(spec.name, backend)
