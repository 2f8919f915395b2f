"""Image panel (issue 23): do pictures show what was asked? Thirty prompts naming everyday
things, each drawn at temperature 0 in scene mode (the model lays out a scene, the objects
come from the OpenMoji library). For each prompt it prints the illustrations the picture
was composed from (the PNG's own `Comment` chunk, which credits them) and whether every
named object is among them; the total X/30 against the target 24/30; a contact sheet of
the pictures (PNG) for a person to look at; and the seconds per image against the old
shapes-only path (VERTEXCOMPAT_IMAGE_ILLUSTRATIONS=false) measured in the same run, the
two servers taking turns prompt by prompt so both see the same machine.

    .venv/bin/python bench/image_panel.py [--model NAME] [--timed N] [--sheet PATH]
    .venv/bin/python bench/image_panel.py --quick   # smoke: tiny model, one prompt, 128x128, no warm-up

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import statistics
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from serving import REPO, Server, free_port
from vertexcompat.media.illustrations.library import IllustrationLibrary
from vertexcompat.media.svg.png_text import text_chunks

TARGET = 24
# What counts as showing each named thing: any of these emoji.
TREE = "🌳🌲🌴🎄"
CAR = "🚗🚙🏎🚓🚕🚘"
BALL = "⚽🏀🏈⚾🎾🏐🥎"
FLOWER = "🌼🌸🌺🌻🌷🌹💐🏵"
BOAT = "⛵🚤🛥🚢🛶⛴"
CUP = "☕🍵🥤🥛🧋"
PANEL: list[tuple[str, dict[str, str]]] = [
    ("a cat under a tree", {"cat": "🐈🐱🐈‍⬛", "tree": TREE}),
    ("two red cars on a road", {"car": CAR, "road": "🛣"}),
    ("a cup of coffee next to a laptop", {"coffee": CUP, "laptop": "💻"}),
    # OpenMoji has no table: this one misses unless a table illustration appears.
    ("a red apple on a wooden table", {"apple": "🍎🍏", "table": ""}),
    ("a house with a blue roof under a yellow sun", {"house": "🏠🏡🏘", "sun": "☀🌞🌤"}),
    ("a dog playing with a ball", {"dog": "🐕🐶🦮🐩", "ball": BALL}),
    ("a bicycle next to a tree", {"bicycle": "🚲", "tree": TREE}),
    ("a bird sitting on a flower", {"bird": "🐦🐤🐥🕊", "flower": FLOWER}),
    ("a boat on the sea", {"boat": BOAT, "sea": "🌊"}),
    ("an airplane above the clouds", {"airplane": "✈🛩🛫🛬", "cloud": "☁🌥⛅"}),
    ("a slice of pizza and a glass of milk", {"pizza": "🍕", "milk": "🥛"}),
    ("a fish and a turtle", {"fish": "🐟🐠🐡", "turtle": "🐢"}),
    ("a snowman next to a christmas tree", {"snowman": "⛄☃", "christmas tree": "🎄"}),
    ("a girl holding an umbrella in the rain", {"girl": "👧", "umbrella": "☂☔🌂",
                                                 "rain": "🌧☔⛈💧"}),
    ("a book, a pencil and a pair of glasses", {"book": "📕📗📘📙📖📚📓", "pencil": "✏",
                                                "glasses": "👓🕶"}),
    ("a horse in a field of flowers", {"horse": "🐎🐴", "flower": FLOWER}),
    ("a banana and a pineapple", {"banana": "🍌", "pineapple": "🍍"}),
    ("a rocket flying to the moon", {"rocket": "🚀", "moon": "🌙🌕🌛🌜🌝🌑🌒🌓🌔🌖🌗🌘"}),
    ("a cow next to a pig", {"cow": "🐄🐮", "pig": "🐖🐷"}),
    ("an alarm clock next to a bed", {"clock": "⏰🕰⌚", "bed": "🛏"}),
    ("a teddy bear on a chair", {"teddy bear": "🧸", "chair": "🪑"}),
    ("a bus at a bus stop", {"bus": "🚌🚍", "bus stop": "🚏"}),
    ("a birthday cake with candles", {"cake": "🎂🍰", "candle": "🕯"}),
    ("a mouse eating cheese", {"mouse": "🐁🐭", "cheese": "🧀"}),
    ("a butterfly over a sunflower", {"butterfly": "🦋", "sunflower": "🌻"}),
    ("a guitar and a drum", {"guitar": "🎸", "drum": "🥁🪘"}),
    ("a lion and an elephant", {"lion": "🦁", "elephant": "🐘"}),
    ("a key next to a lock", {"key": "🔑🗝", "lock": "🔒🔓🔐"}),
    ("a rainbow over a mountain", {"rainbow": "🌈", "mountain": "⛰🏔🗻"}),
    ("a tent under the stars", {"tent": "⛺", "star": "⭐🌟✨💫🌠"}),
]
QUICK_PANEL = PANEL[:1]


@dataclass
class Drawn:
    prompt: str
    png: bytes
    seconds: float
    keys: list[str]
    names: list[str]
    missing: list[str]


def keys_of(library: IllustrationLibrary, emoji: str) -> set[str]:
    """The library keys of a string of emoji (a ZWJ sequence counts as its first emoji)."""
    keys = set()
    for char in emoji:
        found = library.by_char(char)
        if found is not None:
            keys.add(found.key)
    return keys


def draw(client: httpx.Client, base: str, prompt: str, size: str) -> tuple[bytes, float]:
    start = time.perf_counter()
    r = client.post(f"{base}/v1/chat/completions", json={
        "model": "gemini-2.5-flash-image", "temperature": 0, "size": size,
        "messages": [{"role": "user", "content": f"Generate an image of {prompt}."}],
    })
    r.raise_for_status()
    seconds = time.perf_counter() - start
    image = r.json()["choices"][0].get("image")
    return (base64.b64decode(image["data"]) if image else b""), seconds


def illustrations(png: bytes) -> tuple[list[str], list[str]]:
    """(keys, names) the PNG credits: `Comment` is "Illustrations (...): U+KEY name; …"."""
    comment = text_chunks(png).get("Comment", "") if png else ""
    found = re.findall(r"U\+([0-9A-F-]+) ([^;]+)", comment)
    return [k for k, _ in found], [f"{n.strip()} (U+{k})" for k, n in found]


def contact_sheet(drawn: list[Drawn], path: Path, *, tile: int = 256) -> None:
    columns = 6
    rows = (len(drawn) + columns - 1) // columns
    label = 30
    sheet = Image.new("RGB", (columns * tile, rows * (tile + label)), "white")
    pen = ImageDraw.Draw(sheet)
    for i, item in enumerate(drawn):
        x, y = (i % columns) * tile, (i // columns) * (tile + label)
        if item.png:
            picture = Image.open(io.BytesIO(item.png)).convert("RGB").resize((tile, tile))
            sheet.paste(picture, (x, y))
        mark = "ok" if not item.missing else "MISS " + ",".join(item.missing)
        pen.text((x + 4, y + tile + 2), item.prompt[:40], fill="black")
        pen.text((x + 4, y + tile + 15), mark[:40], fill="darkgreen" if not item.missing else "red")
    sheet.save(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--size", default="512x512")
    parser.add_argument("--timed", type=int, default=10,
                        help="prompts also drawn by the shapes-only server, for the time ratio")
    parser.add_argument("--sheet", default=str(Path(tempfile.gettempdir()) / "image_panel.png"))
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("VERTEXCOMPAT_TEST_DATA_DIR")
        or str(Path.home() / ".cache" / "vertexcompat-tests"),
    )
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: smollm2-135m-instruct, one prompt, 128x128")
    args = parser.parse_args()
    panel = PANEL
    if args.quick:
        args.model, args.size, args.timed, panel = "smollm2-135m-instruct", "128x128", 1, QUICK_PANEL
    library = IllustrationLibrary()
    wanted = [{noun: keys_of(library, emoji) for noun, emoji in nouns.items()}
              for _, nouns in panel]

    def server(mode: str, illustrations_on: bool) -> Server:
        port = free_port()
        argv = [str(REPO / ".venv/bin/vertexcompat"), "serve", "--no-auth", "--port",
                str(port), "--model", args.model, "--threads", str(args.threads),
                "--parallel", "1", "--data-dir", args.data_dir]
        log = Path(tempfile.gettempdir()) / f"vertexcompat-image-panel-{mode}.log"
        env = {"PATH": "/usr/bin:/bin",
               "VERTEXCOMPAT_IMAGE_ILLUSTRATIONS": "true" if illustrations_on else "false"}
        return Server(f"vertexcompat-{mode}", argv, "/readyz", port, log, env=env)

    drawn: list[Drawn] = []
    shapes_seconds: list[float] = []
    with ExitStack() as stack, httpx.Client(
        timeout=900, headers={"Authorization": "Bearer bench"}
    ) as client:
        scenes = stack.enter_context(server("scenes", True))
        shapes = stack.enter_context(server("shapes", False)) if args.timed else None
        # Warm-up, untimed: each renderer's worker starts, and the scene server builds its
        # index and the names' embeddings (not in --quick: its times prove nothing, and the
        # first draw there does the same work).
        for base in ([scenes.base] + ([shapes.base] if shapes else [])) if not args.quick else []:
            draw(client, base, "a dot and a kiwi fruit", "64x64")
        for i, ((prompt, _), need) in enumerate(zip(panel, wanted)):
            png, seconds = draw(client, scenes.base, prompt, args.size)
            keys, names = illustrations(png)
            missing = [noun for noun, ok in need.items() if not ok & set(keys)]
            drawn.append(Drawn(prompt, png, seconds, keys, names, missing))
            if shapes is not None and i < args.timed:
                shapes_seconds.append(draw(client, shapes.base, prompt, args.size)[1])
            item = drawn[-1]
            verdict = "OK  " if not item.missing else "MISS"
            print(f"{verdict} {prompt!r} [{seconds:.1f} s]: {', '.join(names) or 'none'}"
                  + (f"  — missing {', '.join(missing)}" if missing else ""), flush=True)
    contact_sheet(drawn, Path(args.sheet))
    shown = sum(not d.missing for d in drawn)
    timed = [d.seconds for d in drawn[:len(shapes_seconds)]]
    scene_s = statistics.median(timed) if timed else float("nan")
    shapes_s = statistics.median(shapes_seconds) if shapes_seconds else float("nan")
    print(f"contact sheet: {args.sheet}")
    print(f"model {args.model}, threads {args.threads}, {args.size}, temperature 0; "
          f"time over the first {len(timed)} prompts, medians")
    print(f"image panel: {shown}/{len(drawn)} prompts show every named object "
          f"(target {TARGET}/30), seconds per image {scene_s:.2f} vs {shapes_s:.2f} "
          f"shapes-only ({scene_s / shapes_s:.2f}x)")


if __name__ == "__main__":
    main()
