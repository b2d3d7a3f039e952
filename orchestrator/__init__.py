"""smlocal: Amazon SageMaker Automatic Model Tuning on your own machine."""

__version__ = "0.1.0"
