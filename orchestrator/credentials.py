"""The access key pair an authenticated endpoint accepts (issue 10 item 4), and where the operator
configures it: flags, environment, or an AWS shared-credentials file.

Training containers never see the operator's secret: they get a second key pair derived from it
(`AccessKey.container_key`), the way SageMaker hands a job its role's credentials instead of the
caller's. It is stable for a given operator key, so containers re-adopted after a server restart
keep working, and the server accepts it like the operator's own.
"""

from __future__ import annotations

import base64
import configparser
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_ACCESS_KEY_ID = "SMLOCAL_ACCESS_KEY_ID"
ENV_SECRET_ACCESS_KEY = "SMLOCAL_SECRET_ACCESS_KEY"
ENV_CREDENTIALS_FILE = "SMLOCAL_CREDENTIALS_FILE"
HOW_TO_SET = (
    "set one with --access-key-id ID --secret-access-key SECRET, or the environment variables "
    f"{ENV_ACCESS_KEY_ID} and {ENV_SECRET_ACCESS_KEY}, or --credentials-file FILE (or "
    f"{ENV_CREDENTIALS_FILE}): an AWS credentials file whose [default] section (or only "
    "section) has aws_access_key_id and aws_secret_access_key")


@dataclass(frozen=True)
class AccessKey:
    access_key_id: str
    secret_access_key: str = field(repr=False)

    def container_key(self) -> AccessKey:
        """The key pair training containers (and the job stager) sign with."""
        def part(label: str) -> bytes:
            return hmac.new(self.secret_access_key.encode(), f"smlocal-container-{label}"
                            .encode(), hashlib.sha256).digest()

        key_id = "ASIA" + base64.b32encode(part("id")).decode()[:16]
        return AccessKey(key_id, base64.b64encode(part("secret")[:30]).decode())

    def boto3_kwargs(self) -> dict[str, str]:
        return {"aws_access_key_id": self.access_key_id,
                "aws_secret_access_key": self.secret_access_key}


class CredentialsError(ValueError):
    """The operator's key is incomplete or unreadable; the message says how to set it."""


def configured_key(access_key_id: str | None = None, secret_access_key: str | None = None,
                   credentials_file: str | None = None) -> AccessKey | None:
    """The key from flags, else the environment, else a credentials file; None when none."""
    key_id = access_key_id or os.environ.get(ENV_ACCESS_KEY_ID)
    secret = secret_access_key or os.environ.get(ENV_SECRET_ACCESS_KEY)
    if key_id or secret:
        if not (key_id and secret):
            raise CredentialsError("an access key needs both an id and a secret; " + HOW_TO_SET)
        return AccessKey(key_id, secret)
    path = credentials_file or os.environ.get(ENV_CREDENTIALS_FILE)
    return _from_file(Path(path)) if path else None


def _from_file(path: Path) -> AccessKey:
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text())
    except (OSError, UnicodeDecodeError, configparser.Error) as exc:
        raise CredentialsError(f"cannot read credentials file {path}: {exc}") from None
    sections = parser.sections()
    name = "default" if "default" in sections else (sections[0] if len(sections) == 1 else None)
    section = parser[name] if name else {}
    key_id, secret = section.get("aws_access_key_id"), section.get("aws_secret_access_key")
    if not (key_id and secret):
        raise CredentialsError(f"{path} has no [default] (or single) section with "
                               "aws_access_key_id and aws_secret_access_key")
    return AccessKey(key_id.strip(), secret.strip())


def is_loopback(host: str) -> bool:
    """True for an address only this machine reaches (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: assume it is reachable from elsewhere
