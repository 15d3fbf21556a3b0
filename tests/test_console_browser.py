"""The console in a real browser: Debian's headless Chromium driven by Selenium, against the real server.

Every host but 127.0.0.1 is unresolvable for the browser (``--host-resolver-rules``): the pages must work with
the network cut off, as on a machine without internet. ``make browser`` installs Chromium and its driver.
With ``ELMOL_SCREENSHOTS=DIR`` the test also saves the pages' screenshots there (``make screenshots``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MASSIVE, MODEL_DIR, REPO, free_port
from test_server import clean_env, server, wait_ready

from elmol_nlu.annotations import read_annotations
from elmol_nlu.annotations.writers import Labelled, massive_lines
from elmol_nlu.datasets import read_massive

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI"),
                                reason="no chromium/chromedriver: run `make browser` (CI always has them)")
TOKEN = "console-secret"
MARKUP = '<img src=x onerror="alert(1)"> remind me <b>tomorrow</b>'


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs, port = tmp_path_factory.mktemp("console-server"), free_port()
    env = clean_env(ELMOL_PORT=str(port), ELMOL_MODEL_DIR=str(MODEL_DIR), ELMOL_REVIEW="true",
                    ELMOL_REVIEW_DB=str(logs / "review.sqlite3"), ELMOL_REVIEW_THRESHOLD="1.0",
                    ELMOL_ADMIN_TOKEN=TOKEN)
    with server([], env, logs) as proc:
        wait_ready(proc, port, logs)
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,1000",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait(driver: webdriver.Chrome, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def screenshot(driver: webdriver.Chrome, name: str) -> None:
    if target := os.environ.get("ELMOL_SCREENSHOTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(target) / name))


def parse_in_console(driver: webdriver.Chrome, base_url: str, text: str) -> None:
    driver.get(f"{base_url}/console")
    box = wait(driver).until(ec.element_to_be_clickable((By.ID, "text")))
    box.clear()
    box.send_keys(text, Keys.ENTER)  # the keyboard alone submits
    wait(driver).until(lambda d: d.find_element(By.ID, "highlighted").text.startswith(text.split()[0][:3]))


def test_the_try_page_highlights_the_slots_with_their_labels(browser: webdriver.Chrome, base_url: str) -> None:
    parse_in_console(browser, base_url, "wake me up at seven am tomorrow")
    marks = {m.get_attribute("data-slot"): m.find_element(By.CSS_SELECTOR, ".value").text
             for m in browser.find_elements(By.CSS_SELECTOR, "#highlighted mark")}
    assert marks == {"time": "seven am", "date": "tomorrow"}, marks
    assert browser.find_element(By.ID, "intent-name").text == "alarm_set"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#ranking li")) == 5
    assert "model massive-en-elmol" in browser.find_element(By.ID, "meta").text
    screenshot(browser, "console.png")


def test_markup_in_an_utterance_is_shown_as_text(browser: webdriver.Chrome, base_url: str) -> None:
    parse_in_console(browser, base_url, MARKUP)
    time.sleep(0.3)
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 (the onerror handler never ran)
    assert browser.find_elements(By.CSS_SELECTOR, "#highlighted img, #highlighted b") == []
    assert "<b>" in browser.find_element(By.ID, "highlighted").text


def test_bad_input_shows_what_to_send(browser: webdriver.Chrome, base_url: str) -> None:
    browser.get(f"{base_url}/console")
    box = wait(browser).until(ec.element_to_be_clickable((By.ID, "text")))
    browser.execute_script("arguments[0].removeAttribute('required')", box)
    box.send_keys("   ", Keys.ENTER)
    assert "send 1 to" in wait(browser).until(ec.visibility_of_element_located((By.ID, "error"))).text


def review_card(driver: webdriver.Chrome, text: str):
    def found(d: webdriver.Chrome):
        return next((c for c in d.find_elements(By.CSS_SELECTOR, "li.item")
                     if c.find_element(By.CSS_SELECTOR, ".utterance").text.startswith(text[:12])), False)
    return wait(driver).until(found)


def test_review_correct_accept_export_and_train(browser: webdriver.Chrome, base_url: str, downloads: Path,
                                                tmp_path: Path) -> None:
    parse_in_console(browser, base_url, "what alarms do i have tomorrow")
    browser.get(f"{base_url}/console/review")
    wait(browser).until(ec.element_to_be_clickable((By.ID, "token"))).send_keys(TOKEN, Keys.ENTER)
    card = review_card(browser, "what alarms do i have tomorrow")
    Select(card.find_element(By.CSS_SELECTOR, "select.intent")).select_by_value("alarm_query")
    for remove in card.find_elements(By.CSS_SELECTOR, ".slot-list .remove")[::-1]:
        remove.click()
    words = card.find_elements(By.CSS_SELECTOR, "button.word")
    assert [w.text for w in words] == ["what", "alarms", "do", "i", "have", "tomorrow"]
    words[-1].click()
    card.find_element(By.CSS_SELECTOR, "input.slot-label").send_keys("date")
    card.find_element(By.CSS_SELECTOR, "button.add-slot").click()
    assert card.find_element(By.CSS_SELECTOR, "mark[data-slot=date] .value").text == "tomorrow"
    screenshot(browser, "review.png")
    card.find_element(By.CSS_SELECTOR, "button.accept").click()
    wait(browser).until(lambda d: card.find_element(By.CSS_SELECTOR, ".state").text == "accepted")

    browser.find_element(By.ID, "export-massive").click()
    exported = downloads / "review.jsonl"
    deadline = time.monotonic() + 15
    while not exported.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    (row,) = [json.loads(line) for line in exported.read_text().splitlines()]
    assert row["intent"] == "alarm_query" and row["annot_utt"] == "what alarms do i have [date : tomorrow]"

    # the export joins a skill's training data, and `elmol-nlu skill train` reads and trains on it
    seed = [e for e in read_massive(MASSIVE, "train") if e.intent in ("alarm_set", "alarm_query", "alarm_remove")]
    chosen = [e for intent in ("alarm_set", "alarm_query", "alarm_remove")
              for e in [x for x in seed if x.intent == intent][:25]]
    data = tmp_path / "alarm.jsonl"
    data.write_text(massive_lines(Labelled(e.text, e.intent, e.slots) for e in chosen) + exported.read_text())
    assert len(read_annotations(data)[0]) == len(chosen) + 1
    out = tmp_path / "skill"
    done = subprocess.run([sys.executable, "-m", "cli", "skill", "train", str(data), "--name", "alarm",
                           "--out", str(out), "--base", str(MODEL_DIR)], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "manifest.json").is_file()


def test_the_api_docs_work_with_the_network_cut_off(browser: webdriver.Chrome, base_url: str) -> None:
    browser.get(f"{base_url}/docs")
    path = wait(browser, 30).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, ".opblock-summary-path[data-path='/parse']")))
    assert path.text.strip().startswith("/parse")
    browser.get(f"{base_url}/redoc")
    wait(browser, 30).until(lambda d: "/parse" in d.find_element(By.TAG_NAME, "body").text)
