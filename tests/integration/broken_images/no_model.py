"""Broken on purpose: trains and reports a metric but writes nothing to /opt/ml/model."""
for epoch in range(3):
    print(f"epoch={epoch} loss={0.5 / (epoch + 1):.4f}", flush=True)
