# The SageMaker training toolkit (PyPI sagemaker-training), unmodified, on the smlocal base:
# `train` is the toolkit's console script, which reads /opt/ml/input/config, exports the SM_*
# variables and runs the user script named by the `sagemaker_program` hyperparameter from
# `sagemaker_submit_directory` (a local folder such as /opt/program, or an s3:// tarball that
# the toolkit downloads from our S3 through S3_ENDPOINT_URL into /opt/ml/code).
# Needs network access while building (apt and pip); `bash containers/toolkit/build.sh`
# passes the host's CA bundle for networks that intercept TLS.
# Build: bash containers/toolkit/build.sh
ARG BASE_IMAGE=smlocal/python-base:latest
FROM ${BASE_IMAGE}
COPY . /opt/toolkit-build/
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3-pip python3-dev gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
RUN if [ -f /opt/toolkit-build/host-ca.crt ]; then export PIP_CERT=/opt/toolkit-build/host-ca.crt; fi \
 && pip3 install --no-cache-dir --break-system-packages "sagemaker-training==5.1.4" \
 && mkdir -p /opt/program \
 && cp /opt/toolkit-build/train.py /opt/program/train.py \
 && rm -rf /opt/toolkit-build
CMD ["train"]
