"""`smlocal train`, `smlocal check` and `smlocal regex-check` as a user runs them (issue 12):
subprocesses against a real server with the Docker backend, on the example images and on
purpose-built broken images (tests/integration/broken_images, built here at test time FROM
smlocal/python-base:latest)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.app import SmlocalApp
from orchestrator.config import Settings
from tests.integration.e2e import clients

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BROKEN = Path(__file__).parent / "broken_images"
LOSS = "loss=loss=([0-9.]+)"


def smlocal(url: str, *args: str, timeout: float = 300, stdin: str | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator.client.cli", "--endpoint", url,
                           *args], capture_output=True, text=True, timeout=timeout, input=stdin)


@pytest.fixture(scope="module")
def url(tmp_path_factory, docker_client, smlocal_image) -> str:
    """A real server; the stop grace (30 s) is longer than `check`'s SIGTERM timeout (10 s), so
    an image that ignores SIGTERM is still running when the check gives up on it."""
    for name in ("gbm", "epoch", "probe", "toolkit"):
        smlocal_image(name)
    app = SmlocalApp(settings=Settings(state_dir=tmp_path_factory.mktemp("state"),
                                       stop_grace_seconds=30.0), port=0).start()
    yield app.url
    app.stop()


@pytest.fixture(scope="module")
def channels(example_data) -> list[str]:
    """--channel flags with local folders (one CSV each)."""
    flags = []
    for channel, path in example_data.items():
        flags += ["--channel", f"{channel}={path.parent if path.is_file() else path}"]
    return flags


@pytest.fixture(scope="session")
def broken_image(docker_client, smlocal_image):
    """`broken_image("no_model")` -> the tag of that broken image, built on first use."""
    smlocal_image("python-base")
    built: dict[str, str] = {}

    def build(script: str) -> str:
        if script not in built:
            tag = f"smlocal-test/broken-{script.replace('_', '-')}:latest"
            docker_client.images.build(path=str(BROKEN), tag=tag, rm=True,
                                       buildargs={"SCRIPT": f"{script}.py"})
            built[script] = tag
        return built[script]

    return build


def check(url: str, *args: str) -> tuple[int, dict[str, dict]]:
    run = smlocal(url, "check", *args, "--json")
    assert run.returncode in (0, 1), run.stderr
    return run.returncode, {item["key"]: item for item in json.loads(run.stdout)}


# ---- smlocal train ---------------------------------------------------------------------------


def test_train_failed_job_exits_1_with_reason_and_print_request(url):
    """First in the module: on a fresh server, without channels, the default output bucket is
    created by the command."""
    ok = smlocal(url, "train", "smlocal/probe:latest", "--hp", "model_files=m.txt", "--wait")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    run = smlocal(url, "train", "smlocal/probe:latest", "--hp", "exit_code=3",
                  "--hp", "failure_message=bad data in row 7", "--name", "train-fails",
                  "--wait")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Failed (AlgorithmError: bad data in row 7)" in run.stdout
    printed = smlocal(url, "train", "smlocal/probe:latest", "--hp", "a=1", "--channel",
                      "train=s3://b/p/", "--print-request", "--name", "x")
    body = json.loads(printed.stdout)
    assert body["HyperParameters"] == {"a": "1"} and body["TrainingJobName"] == "x"
    assert body["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://b/p/"
    missing = smlocal(url, "train", "smlocal/probe:latest", "--channel", "train=/nonexistent")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_train_local_channels_wait_and_download(url, channels, tmp_path, gbm_image):
    out = tmp_path / "out"
    run = smlocal(url, "train", gbm_image, "--hp", "max_iter=20", *channels,
                  "--metric", r"validation:logloss=validation:logloss=([0-9.]+)",
                  "--name", "train-gbm", "--download", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "[final] validation:logloss=" in run.stdout  # the streamed log
    assert "training job train-gbm: Completed" in run.stdout
    assert "validation:logloss = 0." in run.stdout  # final metrics
    assert (out / "model" / "model.pkl").stat().st_size > 0
    assert json.loads((out / "output" / "metrics.json").read_text())
    sm, s3 = clients(url)
    described = sm.describe_training_job(TrainingJobName="train-gbm")
    uris = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in described["InputDataConfig"]}
    assert uris["train"] == "s3://smlocal-train/train-gbm/input/train/"
    assert described["HyperParameters"]["max_iter"] == "20"


# ---- smlocal check: the example images pass --------------------------------------------------


def test_check_passes_gbm_with_sigterm(url, channels, gbm_image):
    code, items = check(url, gbm_image, "--hp", "max_iter=300", *channels,
                        "--metric", r"validation:logloss=validation:logloss=([0-9.]+)")
    assert code == 0, items
    assert items["sigterm"]["status"] == "pass", items["sigterm"]
    assert items["model"]["status"] == "pass" and items["channel:train"]["status"] == "pass"
    assert items["metric:validation:logloss"]["status"] == "pass"


def test_check_passes_epoch_with_checkpoint_saved_on_sigterm(url, channels, epoch_image):
    code, items = check(url, epoch_image, "--hp", "epochs=30", "--hp",
                        "epoch_sleep_seconds=0.3", *channels, "--checkpoint",
                        "s3://smlocal-train/check-epoch/ckpt",
                        "--metric", r"validation:loss=validation:loss=([0-9.]+)")
    assert code == 0, items
    assert items["sigterm"]["status"] == "pass" and items["checkpoint"]["status"] == "pass"


def test_check_passes_toolkit_image(url, smlocal_image, example_data):
    code, items = check(url, smlocal_image("toolkit"), "--hp", "epochs=3",
                        "--hp", "sagemaker_program=train.py",
                        "--hp", "sagemaker_submit_directory=/opt/program", "--channel",
                        f"train={example_data['train']}", "--metric", LOSS, "--no-sigterm")
    assert code == 0, items
    assert items["metric:loss"]["detail"].startswith("3 match(es)")


# ---- smlocal check: broken images fail with the right item and fix ---------------------------


def test_check_fails_an_image_that_ignores_sigterm(url, broken_image):
    code, items = check(url, broken_image("ignores_sigterm"), "--hp", "seconds=12",
                        "--metric", LOSS)
    assert code == 1
    assert items["sigterm"]["status"] == "fail"
    assert "signal.signal(signal.SIGTERM" in items["sigterm"]["fix"]
    assert [k for k, i in items.items() if i["status"] == "fail"] == ["sigterm"]


@pytest.mark.parametrize(("script", "flags", "item", "fix"), [
    ("no_model", [], "model", "/opt/ml/model"),
    ("no_metric", [], "metric:loss", "smlocal regex-check"),
    ("hp_numbers", ["--hp", "epochs=2"], "hyperparameters", "int(hp['epochs'])"),
    ("exit0_after_exception", [], "exit", "exit non-zero"),
])
def test_check_fails_broken_images_with_the_right_item(url, broken_image, script, flags, item,
                                                       fix):
    code, items = check(url, broken_image(script), *flags, "--metric", LOSS, "--no-sigterm")
    assert code == 1
    assert items[item]["status"] == "fail", items
    assert fix in items[item]["fix"]
    if script == "no_metric":
        assert "nearly matched: epoch 0 train loss: 0.5000" in items[item]["detail"]


# ---- smlocal regex-check against a job's log -------------------------------------------------


def test_regex_check_reads_a_training_jobs_log_and_enforces_aws_limits(url):
    sm, _ = clients(url)
    run = smlocal(url, "train", "smlocal/probe:latest", "--hp", "metrics=loss=0.5,0.25",
                  "--name", "regex-job", "--wait")
    assert run.returncode == 0, run.stderr
    ok = smlocal(url, "regex-check", "--training-job", "regex-job", "--metric", LOSS, "--json")
    assert ok.returncode == 0, ok.stderr
    assert [m["value"] for m in json.loads(ok.stdout)[0]["matches"]] == [0.5, 0.25]
    too_many = smlocal(url, "regex-check", *sum((["--metric", f"m{i}=x=(\\d)"]
                                                  for i in range(41)), []), stdin="")
    assert too_many.returncode == 2
    assert ("ValidationException: 1 validation error detected: Value '[41 items]' at "
            "'algorithmSpecification.metricDefinitions' failed to satisfy constraint: Member "
            "must have length less than or equal to 40") in too_many.stderr
