"""A user training script as the SageMaker training toolkit runs it (script mode).

The toolkit passes hyperparameters as command-line arguments and the SM_* environment
variables; this script only uses those, like scripts written for SageMaker framework images.
"""

import argparse
import json
import os
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--fail", type=str, default="")
parser.add_argument("--model-dir", type=str, default=os.environ.get("SM_MODEL_DIR"))
parser.add_argument("--train", type=str, default=os.environ.get("SM_CHANNEL_TRAIN"))
args, unknown = parser.parse_known_args()

if args.fail:
    raise ValueError(args.fail)

files = sorted(os.listdir(args.train)) if args.train and os.path.isdir(args.train) else []
for epoch in range(1, args.epochs + 1):
    print(f"epoch={epoch} loss={1.0 / epoch:.4f}", flush=True)

summary = {
    "argv": sys.argv[1:],
    "unknown": unknown,
    "train_files": files,
    "sm": {k: v for k, v in os.environ.items() if k.startswith("SM_")},
}
print("TOOLKIT_REPORT " + json.dumps(summary, sort_keys=True), flush=True)
with open(os.path.join(args.model_dir, "model.json"), "w") as handle:
    json.dump({"epochs": args.epochs}, handle)
