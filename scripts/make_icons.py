"""Draw the desktop app's icons (static/icons/): the portal's blue, a white H and an orange cursor.

Run once after changing the design (needs Pillow): ``python scripts/make_icons.py``. The PNGs are committed,
so the hub never draws them.
"""

from pathlib import Path

from PIL import Image, ImageDraw

BLUE, ORANGE, WHITE = (0x2C, 0x7B, 0xB6, 255), (0xF3, 0x77, 0x26, 255), (255, 255, 255, 255)
OUT = Path(__file__).resolve().parents[1] / "static" / "icons"


def draw(size: int, maskable: bool) -> Image.Image:
    scale = 4  # drawn large, then shrunk: smooth edges
    n = size * scale
    img = Image.new("RGBA", (n, n), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    if maskable:  # full bleed: the platform cuts its own shape; the mark stays inside the safe circle
        d.rectangle([0, 0, n, n], fill=BLUE)
        box, inset = n * 0.56, n * 0.22
    else:
        d.rounded_rectangle([0, 0, n - 1, n - 1], radius=n * 0.22, fill=BLUE)
        box, inset = n * 0.6, n * 0.2
    stem, bar = box * 0.2, box * 0.16
    x0, y0, top = inset, inset, inset
    d.rectangle([x0, top, x0 + stem, top + box], fill=WHITE)
    d.rectangle([x0 + box * 0.62 - stem, top, x0 + box * 0.62, top + box], fill=WHITE)
    d.rectangle([x0, y0 + box * 0.42, x0 + box * 0.62, y0 + box * 0.42 + bar], fill=WHITE)
    d.rectangle([x0 + box * 0.74, top + box - bar, x0 + box, top + box], fill=ORANGE)  # the cursor
    return img.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for size in (192, 512):
        draw(size, False).save(OUT / f"hubfront-{size}.png", optimize=True)
    draw(512, True).save(OUT / "hubfront-maskable-512.png", optimize=True)
