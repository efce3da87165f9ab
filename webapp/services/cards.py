"""Share cards: 1200×630 PNG images for link previews, drawn with Pillow."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from webapp.models import Business, Post
from webapp.services.challenge import Progress
from webapp.services.stats import BusinessNumbers
from webapp.text import duration, xml_safe

SIZE = (1200, 630)
INK = "#1d2330"
PAPER = "#f7f6f2"
PRAISE = "#13795b"
COMPLAINT = "#a3461b"
MUTED = "#5b6475"
BADGE_CHARACTER_WIDTH = 7  # Verdana at 11 px, roughly


@dataclass(frozen=True)
class Badge:
    """A wall's small SVG badge: a label, the numbers, and how wide each half is drawn."""

    label: str
    text: str

    @property
    def label_width(self) -> int:
        """Return the width of the label's half, in pixels."""
        return 8 + len(self.label) * BADGE_CHARACTER_WIDTH

    @property
    def text_width(self) -> int:
        """Return the width of the numbers' half, in pixels."""
        return 10 + len(self.text) * BADGE_CHARACTER_WIDTH


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Return Pillow's bundled font at a size (no font files to install)."""
    return ImageFont.load_default(size=size)


def png(image: Image.Image) -> bytes:
    """Encode an image as PNG."""
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def canvas(accent: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """Start a card: paper, an accent bar, and the site's name."""
    image = Image.new("RGB", SIZE, PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 24, SIZE[1]], fill=accent)
    draw.text((72, SIZE[1] - 90), "Praisewall", font=font(40), fill=PRAISE)
    return image, draw


def post_card(post: Post) -> bytes:
    """Draw a post's card: kind, business, the story (shortened), who said it."""
    accent = PRAISE if post.is_praise else COMPLAINT
    image, draw = canvas(accent)
    label = "PRAISE" if post.is_praise else "COMPLAINT"
    name = xml_safe(post.business.name)
    draw.text((72, 60), f"{label} · {name}"[:60], font=font(44), fill=accent)
    story = textwrap.shorten(" ".join(xml_safe(post.body).split()), width=220, placeholder=" …")
    lines = textwrap.wrap(story, width=42)[:5]
    for n, line in enumerate(lines):
        draw.text((72, 150 + n * 62), line, font=font(50), fill=INK)
    who = xml_safe(post.shown_author) or "a customer"
    draw.text((SIZE[0] - 72, SIZE[1] - 90), f"by {who}", font=font(40), fill=MUTED, anchor="ra")
    return png(image)


def challenge_card(username: str, progress: Progress | None, completed: int) -> bytes:
    """Draw a person's challenge card: the ring, "n of 3", and finished rounds."""
    image, draw = canvas(PRAISE)
    count = progress.count if progress else 0
    goal = progress.round.goal if progress else 3
    box = [72, 110, 452, 490]
    draw.ellipse(box, outline="#dfe3ea", width=36)
    if count:
        draw.arc(box, start=-90, end=-90 + 360 * count / goal, fill=PRAISE, width=36)
    draw.text((262, 300), f"{count} of {goal}", font=font(64), fill=INK, anchor="mm")
    draw.text((520, 150), "The three-praise challenge", font=font(52), fill=INK)
    draw.text((520, 230), f"@{username}"[:40], font=font(44), fill=MUTED)
    done = "Challenge complete!" if progress and progress.is_complete else f"{goal - count} to go"
    draw.text((520, 310), done, font=font(48), fill=PRAISE)
    if completed:
        rounds = f"{completed} round{'s' if completed != 1 else ''} finished"
        draw.text((520, 380), rounds, font=font(40), fill=MUTED)
    return png(image)


def wall_card(business: Business, numbers: BusinessNumbers) -> bytes:
    """Draw a wall's card: its name, verified mark, praise count, reply rate and reply time."""
    image, draw = canvas(PRAISE)
    name = textwrap.shorten(xml_safe(business.name), width=34, placeholder=" …")
    draw.text((72, 60), name, font=font(64), fill=INK)
    if business.is_verified:
        # Drawn, not typed: the bundled font has no check mark.
        draw.rounded_rectangle([72, 160, 300, 216], radius=12, fill=PRAISE)
        draw.line([(90, 188), (104, 202), (126, 174)], fill=PAPER, width=6)
        draw.text((140, 188), "Verified", font=font(36), fill=PAPER, anchor="lm")
    praise = f"{numbers.praise} praise"
    draw.text((72, 260), praise, font=font(72), fill=PRAISE)
    rate = numbers.reply_rate
    replies = f"Replies: {round(rate * 100)}%" if rate is not None else "No replies yet"
    draw.text((72, 370), replies, font=font(46), fill=INK)
    if numbers.median_reply is not None:
        took = duration(numbers.median_reply).replace("\u00a0", " ")
        draw.text((72, 440), f"Median reply time: {took}", font=font(46), fill=INK)
    return png(image)
