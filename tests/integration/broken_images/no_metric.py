"""Broken on purpose: prints `loss: 0.25` where the MetricDefinitions regex expects `loss=`."""
for epoch in range(3):
    print(f"epoch {epoch} train loss: {0.5 / (epoch + 1):.4f}", flush=True)
with open("/opt/ml/model/model.txt", "w") as f:
    f.write("model\n")
