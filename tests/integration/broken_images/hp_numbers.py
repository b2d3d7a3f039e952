"""Broken on purpose: uses hyperparameters.json values as numbers (SageMaker writes strings)."""
import json

with open("/opt/ml/input/config/hyperparameters.json") as f:
    hp = json.load(f)
for epoch in range(hp.get("epochs", 3)):
    print(f"epoch={epoch} loss={0.5 / (epoch + 1):.4f}", flush=True)
with open("/opt/ml/model/model.txt", "w") as f:
    f.write("model\n")
