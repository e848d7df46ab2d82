"""End to end in a real headless browser (Debian's Chromium, driven by Playwright): each kind of judgement with the
keyboard and with the mouse, undo, escaping of model text; the JSONL rows; and the file trains a reward model."""

import os

import pytest
from label_server import CANDIDATES, SCRIPT, running_server
from tiny_reward import save_backbone

from reward_models import HFRewardModel, RewardTrainerConfig, load_preferences, read_preference_rows, train_reward_model

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"needs Debian's Chromium at {CHROMIUM} (apt-get install -y chromium)"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def test_label_every_mode_with_keyboard_and_mouse_then_train(browser, tmp_path):
    from playwright.sync_api import expect

    path = tmp_path / "prefs.jsonl"
    dialogs = []
    with running_server(path) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.set_default_timeout(10_000)
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url + "/")
        progress = page.locator("#progress")
        expect(progress).to_have_text("0 / 6 labelled")
        # model text with a <script> shows as text and runs nothing
        expect(page.locator('.candidate[data-index="1"] .text')).to_have_text(f" dull {SCRIPT} ending")
        assert page.evaluate("window.__pwned") is None

        page.keyboard.press("2")  # pick B with the keyboard
        expect(progress).to_have_text("1 / 6 labelled")
        page.keyboard.press("ArrowLeft")  # pick A with the arrow key
        expect(progress).to_have_text("2 / 6 labelled")
        page.locator('.candidate[data-index="1"]').click()  # pick B with the mouse
        expect(progress).to_have_text("3 / 6 labelled")
        page.keyboard.press("u")  # undo with the keyboard
        expect(progress).to_have_text("2 / 6 labelled")
        expect(page.locator('.candidate[data-index="0"] .text')).to_have_text(" bad and cold")

        page.keyboard.press("r")  # rank with the keyboard: 4 > 1 > 3 > 2
        expect(progress).to_have_text("0 / 3 labelled")
        for key in "413":
            page.keyboard.press(key)
        expect(page.locator('.candidate[data-index="1"] .rank')).to_have_text("rank 4")
        page.keyboard.press("Enter")
        expect(progress).to_have_text("1 / 3 labelled")
        for index in (2, 0, 3):  # rank with the mouse: 3 > 1 > 4 > 2
            page.locator(f'.candidate[data-index="{index}"]').click()
        page.locator("#submit").click()
        expect(progress).to_have_text("2 / 3 labelled")

        page.locator('#modes button[data-mode="edit"]').click()  # edit with the mouse
        expect(progress).to_have_text("0 / 3 labelled")
        page.locator("#edit-text").fill(" great fun, every minute")
        page.locator("#submit").click()
        expect(progress).to_have_text("1 / 3 labelled")
        page.keyboard.press("Control+a")  # edit with the keyboard
        page.keyboard.type(" great and hot, fresh")
        page.keyboard.press("Control+Enter")
        expect(progress).to_have_text("2 / 3 labelled")
        page.locator("#undo").click()  # undo with the mouse
        expect(progress).to_have_text("1 / 3 labelled")
        expect(page.locator("#edit-text")).to_have_value(" bad and cold")
        assert dialogs == [] and page.evaluate("window.__pwned") is None

    movie, food, _ = (c.completions for c in CANDIDATES)
    rows = read_preference_rows(path)
    assert [(row["mode"], row["annotator"]) for row in rows] == [("pair", "alice")] * 2 + [("rank", "alice")] * 2 + [
        ("edit", "alice")
    ]
    assert (rows[0]["chosen"], rows[0]["rejected"]) == (movie[1], movie[0])
    assert (rows[1]["chosen"], rows[1]["rejected"]) == (movie[2], movie[3])
    assert rows[2]["ranking"] == [movie[3], movie[0], movie[2], movie[1]]
    assert rows[3]["ranking"] == [food[2], food[0], food[3], food[1]]
    assert (rows[4]["chosen"], rows[4]["rejected"]) == (" great fun, every minute", movie[0])
    assert path.read_text().count('"undo"') == 2

    pairs = load_preferences(path)
    assert len(pairs) == 2 + 6 + 6 + 1
    backbone = save_backbone(tmp_path / "backbone")
    config = RewardTrainerConfig(
        model=backbone,
        train_file=str(path),
        eval_fraction=0.0,
        num_train_epochs=2,
        batch_size=4,
        learning_rate=1e-3,
        output_dir=str(tmp_path / "rm"),
        device="cpu",
    )
    result = train_reward_model(config)
    assert result.steps == 2 * 4
    scores = HFRewardModel(result.output_dir)([p.prompt for p in pairs], [p.chosen for p in pairs])
    assert scores.shape == (len(pairs),) and abs(scores.mean()) < 1.0


def test_page_works_when_a_token_is_required(browser, tmp_path):
    """Defect 1: with a token the page's own script and CSS were refused (a <script src> carries no token)."""
    from playwright.sync_api import expect

    path = tmp_path / "prefs.jsonl"
    token = "s3cret-token-for-the-test"
    with running_server(path, token=token) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.set_default_timeout(10_000)
        failed = []
        page.on("response", lambda response: response.status >= 400 and failed.append(response.url))
        page.goto(f"{url}/?token={token}")
        expect(page.locator("#progress")).to_have_text("0 / 6 labelled")
        assert page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"  # CSS applied
        page.keyboard.press("2")
        expect(page.locator("#progress")).to_have_text("1 / 6 labelled")
        assert failed == []
        page.goto(url + "/")  # without the token: refused, and the API stays closed
        assert "missing or wrong token" in page.content()
    assert [row["chosen"] for row in read_preference_rows(path)] == [CANDIDATES[0].completions[1]]


def test_a_conversation_item_shows_the_turns_and_stores_a_conversation_pair(browser, tmp_path):
    from playwright.sync_api import expect

    from reward_models import as_conversation
    from reward_models.human import Candidates

    messages = [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": f"the food was {SCRIPT}"},
        {"role": "assistant", "content": "sad day"},
        {"role": "user", "content": "and the movie?"},
    ]
    candidates = [Candidates(as_conversation(messages), (" great fun", " bad film", " ok", " so good"))]
    path = tmp_path / "prefs.jsonl"
    with running_server(path, candidates) as url:
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.set_default_timeout(10_000)
        page.goto(url + "/")
        expect(page.locator("#progress")).to_have_text("0 / 2 labelled")
        expect(page.locator("#prompt-title")).to_have_text("Conversation so far")
        expect(page.locator("#instructions")).to_contain_text("Which next reply is better?")
        turns = page.locator("#prompt .message")
        expect(turns).to_have_count(4)
        assert [turns.nth(i).get_attribute("class") for i in range(4)] == [f"message {m['role']}" for m in messages]
        expect(turns.nth(1).locator(".text")).to_have_text(messages[1]["content"])  # shown as text, not run
        expect(turns.nth(3).locator(".role")).to_have_text("user")
        assert page.evaluate("window.__pwned") is None
        page.keyboard.press("2")
        expect(page.locator("#progress")).to_have_text("1 / 2 labelled")
    (row,) = read_preference_rows(path)
    assert row["prompt"] == messages
    assert (row["chosen"], row["rejected"]) == (
        [{"role": "assistant", "content": " bad film"}],
        [{"role": "assistant", "content": " great fun"}],
    )
    assert load_preferences(path)[0].prompt == as_conversation(messages)
