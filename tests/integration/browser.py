"""Headless Debian Chromium through Selenium for the browser tests (report, dashboard).

`chromium()` yields a driver whose every host name is unresolvable and whose proxy is a dead
port, so a page can reach nothing but `local_host` (an address the test serves on; loopback
bypasses the proxy). Missing Selenium or Chromium skips, or fails with SMLOCAL_REQUIRE_DOCKER=1
(scripts/ensure-browser.sh installs them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE = os.environ.get("SMLOCAL_REQUIRE_DOCKER") == "1"


def unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"{reason} (SMLOCAL_REQUIRE_DOCKER=1 makes this a failure)", pytrace=False)
    pytest.skip(reason)


def chromium(local_host: str | None = None) -> Iterator[Any]:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as exc:
        unavailable(f"selenium is not installed ({exc}); pip install -e '.[test]'")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        unavailable("chromium/chromedriver missing; run scripts/ensure-browser.sh")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    rules = "MAP * ~NOTFOUND" + (f", EXCLUDE {local_host}" if local_host else "")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,900", f"--host-resolver-rules={rules}",
                "--proxy-server=127.0.0.1:9", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    b = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield b
    finally:
        b.quit()
