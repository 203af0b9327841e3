"""What the MLflow UI shows of an nninfo experiment: a real ``mlflow server`` on the test's
SQLite store in headless Chromium, opened at the URL the start banner prints: the "Model
training" view (not GenAI's), the parent run's name, its Source and Created-by, the
experiment's description, and the seed aggregates on the parent run's page."""

from __future__ import annotations

import getpass
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from nninfo.config import build_config
from nninfo.tracking import runs
from nninfo.tracking.aggregate import band_keys, log_parent_aggregates
from nninfo.tracking.entry import run_entry
from nninfo.tracking.pipeline import Settings
from tests.helpers import tishby_layers
from tests.test_report import start_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

TIMEOUT_S = 180  # a loaded machine: server start, page loads
KEY = "L2/pid.representational_complexity"
CONFIG = {
    "name": "ui",
    "seeds": 2,
    "task": {"name": "tishby"},
    "network": {"layers": tishby_layers(4, 3)},
    "training": {"optimizer": "sgd", "lr": 0.1, "loss": "bce", "batch_size": 64, "epochs": 2,
                 "checkpoint_schedule": "log_steps", "checkpoint_count": 3},
    "analysis": {"dataset": "all", "layers": ["L2"], "measures": ["pid"],
                 "surrogates": {"mi": 10, "pid": 0}},
}
PARENT_NAME = "ui · 2 seeds · lr 0.1"  # config name, seeds, learning rate
DESCRIPTION = "ui: task tishby, network 12-4-3-1, measures pid of L2 (2 seeds)."
ML_NAV, GENAI_NAV = "Model registry", "Evaluation runs"  # side-bar links of each view


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, what: str, timeout: float = TIMEOUT_S):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    pytest.fail(f"gave up after {timeout} s waiting for {what}")


def start_server(uri: str, folder) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = (folder / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=folder, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            pytest.fail("mlflow server exited:\n" + (folder / "server.log").read_text()[-3000:])
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
                return reply.status == 200
        except OSError:
            return False

    try:
        wait_for(healthy, f"mlflow server at {url}")
    except BaseException:
        stop(proc)
        raise
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    """End the server we started (its own process group: uvicorn and its worker)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def final_mean(parent: str, key: str) -> tuple[int, float, float]:
    """The last step and, there, the mean and 2.5 % quantile over the seeds' values."""
    c = runs.client()
    values = {}
    for run in runs.seed_runs(parent):
        hist = sorted(c.get_metric_history(run.info.run_id, key), key=lambda m: m.timestamp)
        values[run.info.run_id] = {m.step: m.value for m in hist}
    step = max(max(v) for v in values.values())
    at = np.array([v[step] for v in values.values()])
    return step, float(at.mean()), float(np.quantile(at, 0.025))


def test_the_banner_s_url_opens_model_training_and_the_run_page_shows_the_aggregates(
        mlflow_store, tmp_path, capsys):
    from selenium.webdriver.common.by import By

    browser = start_chromium()  # skips cleanly without chromium, chromedriver or selenium
    try:
        run_entry("main", ("train", "analyze", "performance", "report"), build_config(CONFIG),
                  Settings(workers=1, progress=False), CONFIG["name"])
        banner = capsys.readouterr().err
        parent = runs.find_parent(CONFIG["name"])
        log_parent_aggregates(build_config(CONFIG), parent)
        _, mean, lo = final_mean(parent, KEY)
        experiment = runs.client().get_run(parent).info.experiment_id
        server, url = start_server(mlflow_store, tmp_path)
        try:
            (shown_url,) = re.findall(r"then open http://127\.0\.0\.1:5000(/\S+)", banner)
            browser.get(url + shown_url)  # the banner's URL on this test's server

            def text(what: str, xpath: str) -> str:
                found = wait_for(lambda: [e for e in browser.find_elements(By.XPATH, xpath)
                                          if e.is_displayed()], what)
                return found[0].text

            def model_training_view() -> None:
                text("the Model training view's side bar",
                     f"//a[normalize-space(text())='{ML_NAV}']")
                assert not browser.find_elements(By.XPATH, f"//*[text()='{GENAI_NAV}']")
                assert "workflowType=machine_learning" in browser.current_url

            text("the parent run's name", f"//*[normalize-space(text())='{PARENT_NAME}']")
            model_training_view()
            assert parent in browser.current_url
            about = text("the run's details", "//*[normalize-space(text())='Created by']/..")
            assert getpass.getuser() in about  # mlflow.user, not "—"

            wait_for(lambda: browser.find_elements(  # the side bar's Runs: the experiment
                By.CSS_SELECTOR, f"a[href*='/experiments/{experiment}/runs?']"
                                 "[href*='workflowType=machine_learning']"),
                "the side bar's link to the experiment's runs")[0].click()
            text("the experiment's description", f"//*[normalize-space(text())='{DESCRIPTION}']")
            model_training_view()
            text("the parent run in the list", f"//*[normalize-space(text())='{PARENT_NAME}']")
            link = wait_for(lambda: browser.find_elements(
                By.CSS_SELECTOR, f"a[href*='/runs/{parent}']"), "the parent run in the list")
            link[0].click()

            def shown(key: str) -> float:
                cells = wait_for(lambda: browser.find_elements(
                    By.XPATH, f"//*[@role='row'][.//*[normalize-space(text())='{key}']]"
                              "/*[@role='cell']"), f"metric {key} on the run page")
                return float(cells[-1].text)

            assert shown(KEY) == pytest.approx(mean, rel=1e-12)
            lo_key, hi_key = band_keys(KEY)
            assert shown(lo_key) == pytest.approx(lo, rel=1e-12)
            assert shown(lo_key) <= shown(KEY) <= shown(hi_key)
            assert parent in browser.current_url

            # its charts open with the report's figures, C first (the published-style plot
            # of C with its band), and end with the band bounds' one section
            browser.get(f"{url}/#/experiments/{experiment}/runs/{parent}/model-metrics")

            def sections() -> list[str]:
                heads = [e.text.split("\n")[0] for e in browser.find_elements(
                    By.XPATH, "//*[@role='button' and @aria-expanded]") if e.text]
                return heads if heads[:1] == ["Figures"] and "spread" in heads else []

            heads = wait_for(sections, "the run's chart sections, Figures first")
            assert heads.index("L2") < heads.index("spread")
            wait_for(lambda: [i for i in browser.find_elements(
                By.XPATH, "//*[normalize-space(text())='Figures/01 complexity']"
                          "/ancestor::*[.//img][1]//img")
                if browser.execute_script("return arguments[0].naturalWidth > 0", i)],
                "the image of C, Figures/01 complexity")
        finally:
            stop(server)
    finally:
        browser.quit()
