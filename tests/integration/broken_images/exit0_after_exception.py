"""Broken on purpose: catches its exception, writes /opt/ml/output/failure, then exits 0, so
SageMaker reports the job Completed."""
import sys
import traceback

try:
    print("loss=0.5", flush=True)
    raise RuntimeError("the data could not be parsed")
except RuntimeError as exc:
    traceback.print_exc()
    with open("/opt/ml/output/failure", "w") as f:
        f.write(f"{exc}\n")
    sys.exit(0)
