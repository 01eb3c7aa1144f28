"""The SSH keys page as people use it in Chromium (issue 26): a wrong paste is told under its field, a key is
added and listed with its fingerprint next to the command line and the gateway's host keys, and removed
after the confirmation."""

import asyncssh
import pytest
from playwright.sync_api import expect

from support import screenshot, shown, ui_login

pytestmark = pytest.mark.browser


def test_add_see_and_remove_an_ssh_key(page, portal_hub):
    portal_hub.add_user("kit", "Kit-pass1", groups=["alpha"])
    ui_login(page, portal_hub, "kit", "Kit-pass1")
    page.goto(portal_hub.base_url + "/hub/portal/ssh-keys")
    expect(page.locator("#hf-ssh-no-keys")).to_have_text("No keys yet.")
    expect(page.locator("#hf-ssh-command")).to_have_value(f"ssh -p {portal_hub.ssh_port} kit@127.0.0.1")
    expect(page.locator(".hf-host-fingerprint")).to_have_count(3)
    page.fill("#hf-ssh-public-key", "-----BEGIN OPENSSH PRIVATE KEY----- abc")
    page.click("#hf-ssh-add-form button[type=submit]")
    expect(page.locator("#hf-ssh-key-error")).to_contain_text("Public key: this is a private key")
    key = asyncssh.generate_private_key("ssh-ed25519", comment="kit@laptop")
    page.fill("#hf-ssh-name", "")
    page.fill("#hf-ssh-public-key", key.export_public_key("openssh").decode())
    page.click("#hf-ssh-add-form button[type=submit]")
    expect(page.locator("#hf-ssh-key-added")).to_have_text("SSH key kit@laptop added.")
    row = page.locator(".hf-ssh-key")
    expect(row).to_have_count(1)
    expect(row.locator(".hf-ssh-fingerprint")).to_have_text(key.get_fingerprint("sha256"))
    expect(row).to_contain_text("never")
    screenshot(page, "ssh-keys-page")
    row.locator("button", has_text="Remove").click()
    shown(page, "#hf-confirm-action")
    expect(page.locator("#hf-confirm-action-text")).to_have_text("Remove the key kit@laptop? It can no longer sign in.")
    page.locator("#hf-confirm-action-ok").click()
    expect(page.locator("#hf-ssh-key-removed")).to_have_text("SSH key removed.")
    expect(page.locator(".hf-ssh-key")).to_have_count(0)
