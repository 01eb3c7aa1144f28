"""The portal as a desktop app in Chromium (issue 26): Chromium fetches the manifest and finds the portal
installable, the service worker is active over every hub page and keeps the app shell only, and the home's
Desktop & SSH panel offers the install where the browser does, and the lines to copy."""

import os

import pytest
from playwright.sync_api import expect
from support import SCREENSHOTS, screenshot, ui_login

pytestmark = pytest.mark.browser

# what the browser fires when it offers to install (Chromium's own needs a person's engagement first)
OFFER = """() => {
  const offer = new Event("beforeinstallprompt", { cancelable: true });
  offer.prompt = () => { window.hfAsked = (window.hfAsked || 0) + 1; return Promise.resolve(); };
  offer.userChoice = Promise.resolve({ outcome: "accepted", platform: "web" });
  window.dispatchEvent(offer);
  return offer.defaultPrevented;
}"""


@pytest.fixture
def profile_page(browser, tmp_path):
    """A page of a browser profile on disk: Chromium offers no install in an incognito context (the tests'
    usual one), so this one is a persistent context of the same Chromium."""
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=os.environ.get("HUBFRONT_CHROMIUM", "/usr/bin/chromium"),
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"], viewport={"width": 1280, "height": 800})
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_chromium_finds_the_portal_installable_and_the_worker_keeps_the_shell_only(profile_page, portal_hub):
    page = profile_page
    portal_hub.add_user("dex", "Dex-pass1", groups=["alpha"])
    manifests = []
    page.on("response", lambda r: manifests.append(r) if r.url.endswith("/manifest.webmanifest") else None)
    ui_login(page, portal_hub, "dex", "Dex-pass1")
    hub = portal_hub.base_url + "/hub/"
    worker = page.evaluate("""async () => {
      const reg = await navigator.serviceWorker.ready;
      return { scope: reg.scope, state: reg.active && reg.active.state, script: reg.active && reg.active.scriptURL };
    }""")
    assert worker == {"scope": hub, "state": "activated", "script": hub + "portal/sw.js"}
    cdp = page.context.new_cdp_session(page)
    app = cdp.send("Page.getAppManifest")
    assert app["url"] == hub + "portal/manifest.webmanifest" and app["errors"] == [], app
    assert manifests and manifests[-1].status == 200  # the manifest link was fetched
    assert cdp.send("Page.getInstallabilityErrors")["installabilityErrors"] == []  # "Install Hubfront"
    # once the worker controls the pages: what it kept is the portal's own static files, never a page or an answer
    page.reload()
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.goto(hub + "portal/ssh-keys")
    page.evaluate("() => fetch(window.jhdata.base_url + 'api/portal/me/ssh-keys').then(r => r.json())")
    kept = page.evaluate("""async () => {
      const out = [];
      for (const name of await caches.keys()) {
        for (const request of await (await caches.open(name)).keys()) out.push([name, new URL(request.url).pathname]);
      }
      return out;
    }""")
    assert kept and all(name.startswith("hubfront-shell-") for name, _ in kept)
    paths = {path for _, path in kept}
    assert {"/hub/portal/static/portal.css", "/hub/portal/static/portal.js",
            "/hub/portal/static/icons/hubfront-512.png"} <= paths
    assert all(path.startswith("/hub/portal/static/") for path in paths), paths


def test_the_desktop_and_ssh_panel_offers_the_install_and_the_lines_to_copy(page, portal_hub):
    portal_hub.add_user("fay", "Fay-pass1", groups=["alpha"])
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=portal_hub.base_url)
    ui_login(page, portal_hub, "fay", "Fay-pass1")
    panel = page.locator("#hf-desktop")
    expect(panel).to_contain_text("Desktop & SSH")
    port = portal_hub.ssh_port
    expect(panel.locator("#hf-desktop-ssh-group")).to_have_text(f"ssh -p {port} fay+alpha@127.0.0.1")
    expect(panel.locator("#hf-desktop-ssh-config")).to_have_text(
        f"Host hubfront-alpha\n    HostName 127.0.0.1\n    Port {port}\n    User fay+alpha")
    expect(panel.locator("#hf-desktop-keys")).to_contain_text("No SSH key yet")
    expect(panel.locator("#hf-install-unix-lines")).to_contain_text(
        f"curl -fsSL '{portal_hub.base_url}/hub/portal/desktop/hubfront.pyz' -o ~/.local/bin/hubfront")
    panel.locator("button[data-copy='#hf-desktop-ssh-group']").click()
    expect(panel.locator("button[data-copy='#hf-desktop-ssh-group']")).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == f"ssh -p {port} fay+alpha@127.0.0.1"
    # no offer from the browser: no button; an offer: the button, which asks the browser, then "installed"
    install = page.locator("#hf-install-app")
    expect(install).to_be_hidden()
    expect(page.locator("#hf-app-hint")).to_be_visible()
    assert page.evaluate(OFFER) is True  # the panel asks instead of the browser's own bar
    expect(install).to_be_visible()
    panel.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SCREENSHOTS / "desktop-ssh-panel.png"))
    screenshot(page, "home-desktop-ssh")
    install.click()
    expect(page.locator("#hf-app-installed")).to_be_visible()
    expect(install).to_be_hidden()
    assert page.evaluate("() => window.hfAsked") == 1
