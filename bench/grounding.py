"""Grounding (issue 18): what the search index costs and finds, and how often a grounded
answer states the right fact with the right citation, in one run.

Part 1, index build (no server): `--docs` documents of synthetic text (seeded, so every run
makes the same ones: invented products with a name, a maker's town, a designer, a part
number, a weight and a year, 80-150 words, some names non-ASCII) are indexed by
`search.LocalIndex` in a temp directory twice: (a) hybrid, with MiniLM embeddings
(`TextEmbedder(threads=--threads)`, loaded before the clock starts), and (b) BM25 only
(`embedder=None`). Reported: build seconds and documents/s.

Part 2, search latency and recall (no server): `--queries` questions, each about one
generated document's fact, against both indexes. Half are worded like the document and name
the product in full ("Who designed the Veloria Drift VD-42 kettle?"); half use other verbs
and name it without its model code and by another word for it ("Which engineer came up
with the Veloria Drift water boiler?": several documents share brand and line). Reported:
p50/p99 ms of `LocalIndex.search(query, 3)` and recall@3 (the document asked about among
the top 3 hits), for each kind of question. The same for the 30 questions of
tests/data/grounding/questions.jsonl on the test corpus index (tests/data/grounding/*.md,
hybrid): the lookup a grounded request makes on the server.

Part 3, query choice (server): for the first 20 questions, a short generation asks the model
to write a search query (max_tokens 24, temperature 0); recall@3 of that query against the
raw question on the test corpus index, and the ms writing it adds per request. The server
itself searches with the user's last message (services/policies/grounding.py).

Part 4, end to end (server, `--model`, `--threads`, `--no-auth`, `--no-prefix-cache`, its
index the test corpus through VERTEXCOMPAT_SEARCH_INDEX_DIR): the first `--questions`
questions as chat completions through the `openai` SDK at /v1 (temperature 0, max_tokens
128, `web_search_options={}`). "right fact": the expected answer is in `content` (case,
whitespace and Unicode NFC normalised); "right citation": an annotation's url is the expected
document's front-matter url and its `content[start_index:end_index]` is non-empty text. The
same questions without grounding, interleaved, give the overhead per request: median ms with
vs without (whole answers: they differ in length), the same with max_tokens 1 (the lookup
and the longer prompt alone), and part 2's lookup p50. One streamed grounded request checks
that the final chunk's annotations equal the whole response's. Every annotation's offsets
must lie inside `content` (the script exits 1 otherwise).

    .venv/bin/python bench/grounding.py [--model NAME] [--threads N] [--questions N]
                                        [--docs N] [--queries N] [--json FILE|-]
    .venv/bin/python bench/grounding.py --quick   # smoke: 8 docs, 4 queries, tiny model,
                                                  # 1 question, no warm-up, prefix cache on,
                                                  # 1 passage per grounded prompt

`--quick` proves the script works (tests/e2e/test_bench_smoke.py runs it), not the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import signal
import sys
import tempfile
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))

from serving import OUR_MODEL_ID, ForeignCpu, Server, free_port, med, print_rows  # noqa: E402

CORPUS = REPO / "tests" / "data" / "grounding"
QUESTIONS = CORPUS / "questions.jsonl"
HEADER = "x-vertexcompat-grounding"
K = 3  # the server's default grounding_passages
TARGET_SHARE = 0.8  # right fact with the right citation
QUERY_PROMPT = ("Write a short search query (a few keywords) that finds the answer to this "
                "question in a product documentation index. Reply with the query only.\n\n"
                "Question: {question}")

# ---------------------------------------------------------------------------------------------
# part 1: synthetic documents

BRANDS = ["Veloria", "Kestrelin", "Brückwerk", "Nordlys", "Señorío", "Quillon", "Marrowind",
          "Tessaly", "Øresund", "Halvardt", "Czerwień", "Ambrosk", "Felicité", "Orvanta",
          "Zephalon", "Grønvik", "Lumivale", "Tarraco", "Ostrava", "Kalinda", "Peregrim",
          "Solvé", "Draumur", "Mirabeau", "Yūgen", "Castellon", "Brisecœur", "Halcyra",
          "Vantorin", "Żurawiec", "Ribeira", "Corvalis", "Thistlewood", "Ebbrook", "Isarion",
          "Névé", "Pallantis", "Quorin", "Rüstig", "Sundaria"]
LINES = ["Arc", "Drift", "Pulse", "Ember", "Tundra", "Vireo", "Cobalt", "Sable", "Harbor",
         "Summit", "Quill", "Lantern", "Meridian", "Fjord", "Cinder", "Aster", "Basalt",
         "Canto", "Delta", "Echo", "Falcon", "Garnet", "Heron", "Iris", "Juniper", "Kite",
         "Lumen", "Marlin", "Nova", "Onyx", "Pike", "Quartz", "Raven", "Solace", "Talon",
         "Umber", "Vale", "Wren", "Yarrow", "Zenith"]
# (what it is, a part of it sold on its own, what else people call it)
KINDS = [("kettle", "filter", "water boiler"), ("drone", "propeller", "quadcopter"),
         ("headlamp", "strap", "head torch"), ("coffee grinder", "burr set", "bean mill"),
         ("bicycle pump", "hose", "tyre inflator"), ("rice cooker", "inner pot", "rice steamer"),
         ("air purifier", "filter cartridge", "air cleaner"),
         ("trail camera", "mounting bracket", "wildlife cam"),
         ("soldering station", "tip", "soldering iron"),
         ("baby monitor", "antenna", "nursery camera"),
         ("sewing machine", "bobbin case", "stitching machine"),
         ("water filter", "membrane", "water purifier"), ("e-reader", "cover", "ebook reader"),
         ("garden sprayer", "nozzle", "plant mister"),
         ("electric kayak pump", "valve", "boat inflator"),
         ("dehumidifier", "water tank", "moisture extractor"),
         ("telescope", "eyepiece", "stargazing scope"),
         ("label printer", "print head", "sticker maker"),
         ("stand mixer", "dough hook", "kitchen machine"),
         ("snow blower", "auger belt", "snow thrower"),
         ("hearing aid", "wax guard", "sound amplifier"),
         ("ceiling fan", "pull chain", "overhead ventilator"),
         ("solar charger", "cable", "sun-powered battery bank"),
         ("weather station", "rain funnel", "home meteo monitor"),
         ("pizza oven", "baking stone", "outdoor flatbread cooker"),
         ("cordless drill", "battery pack", "battery screwdriver"),
         ("bread maker", "kneading paddle", "loaf machine"),
         ("portable heater", "grille", "space warmer"), ("door lock", "key card", "smart latch"),
         ("rangefinder", "lens cap", "distance meter")]
TOWNS = ["Görlitz", "Łódź", "Tromsø", "Akureyri", "São Mateus", "Kraków", "Ærøskøbing",
         "Brno", "Tartu", "Oulu", "Trondheim", "Ghent", "Évora", "Zaragoza", "Plzeň",
         "Linköping", "Aalborg", "Maribor", "Cluj-Napoca", "Győr", "Bergamo", "Annecy",
         "Pécs", "Kaunas", "Sapporo", "Matsumoto", "Dunedin", "Hobart", "Tampere", "Košice",
         "Bydgoszcz", "Coimbra", "Valladolid", "Rijeka", "Ísafjörður", "Nîmes", "Salzgitter",
         "Cieszyn", "Vaasa", "Nantes", "Porto Alegre", "Cuenca", "Mysore", "Kandy", "Iloilo",
         "Tamale", "Kisumu", "Arequipa", "Oaxaca", "Rosario"]
FIRST = ["Amélie", "Jürgen", "Zoë", "Tomasz", "Hanako", "Olusegun", "Priya", "Søren", "Inês",
         "Mateus", "Björn", "Chiara", "Dagný", "Émile", "Farida", "Gustav", "Hélène", "Ilkka",
         "Jiří", "Kenji", "Leilani", "Małgorzata", "Nuño", "Oksana", "Pádraig", "Ragnhild",
         "Siddharth", "Thảo", "Ursula", "Vítězslav"]
LAST = ["Duchêne", "Wróblewski", "Åkesson", "Yamada", "Adeyemi", "Raghunathan", "Brandt",
        "Nováková", "Ferreira", "Lindqvist", "Okonkwo", "Castellanos", "Høgberg", "Moreau",
        "Kowalczyk", "Nakamura", "Ó Briain", "Petrović", "Quintana", "Rasmussen", "Szabó",
        "Tanaka", "Urquhart", "Vasquez", "Weiß", "Xu", "Yılmaz", "Zielińska", "Mbeki", "Eriksen"]
MATERIALS = ["anodised aluminium", "recycled polypropylene", "brushed steel", "oak veneer",
             "glass-filled nylon", "powder-coated steel", "bamboo fibre", "cast magnesium"]
COLOURS = ["slate grey", "moss green", "ochre", "midnight blue", "sand", "coral", "graphite"]
FILLERS = [
    "Its housing is made of {material} and comes in {colour}.",
    "Owners are told to clean it once every {n} weeks with a dry cloth.",
    "The manual is printed in {n} languages and ships in the box.",
    "Customer support answers calls from an office in {town2}.",
    "A {colour} edition was added to the range a year after launch.",
    "It is often compared with the {other}, which costs a little more.",
    "Reviewers liked the quiet operation and the clear controls on the front panel.",
    "Spare parts are stocked by {n} dealers across the region.",
    "The packaging is fully recyclable and printed with plant-based inks.",
    "A firmware update in its second year improved the standby power use.",
    "The {brand} service centre offers a free inspection after {n} months.",
]
# fact → (the document's sentence, a question worded like it, a question in other words:
# other verbs, and the product named without its model code and by another word for it)
FACTS: dict[str, tuple[str, str, str]] = {
    "town": ("The {name} is manufactured in {town}.",
             "In which town is the {name} manufactured?",
             "Where does the {alias} get built?"),
    "designer": ("It was designed by {person}.",
                 "Who designed the {name}?",
                 "Which engineer came up with the {alias}?"),
    "part": ("The replacement {part} has the part number {code}.",
             "What is the part number of the replacement {part} for the {name}?",
             "Which code do I order to get a spare {part} for my {alias}?"),
    "weight": ("It weighs {weight} kg.",
               "How much does the {name} weigh?",
               "What is the mass of the {alias}?"),
    "year": ("The {short} went on sale in {year}.",
             "In what year did the {name} go on sale?",
             "When was the {alias} launched?"),
}


@dataclass
class Synthetic:
    doc_id: str
    name: str
    facts: dict[str, str]
    fields: dict[str, str]


def synthetic_documents(n: int, directory: Path,
                        seed: int = 18) -> tuple[list[Any], list[Synthetic]]:
    """`n` documents (search.Document) and what each says, the same for the same n and seed."""
    from vertexcompat.search.documents import Document, document_id

    rng = random.Random(seed)
    combos = [(b, line, k) for b in range(len(BRANDS)) for line in range(len(LINES))
              for k in range(len(KINDS))]
    picked = rng.sample(combos, n) if n <= len(combos) else [rng.choice(combos) for _ in range(n)]
    codes = rng.sample(range(100_000, 1_000_000), n)
    documents, about = [], []
    for i, (b, line, k) in enumerate(picked):
        brand, (kind, part, alias) = BRANDS[b], KINDS[k]
        model = f"{brand[:1].upper()}{LINES[line][:1]}-{rng.randint(2, 99)}"
        name = f"{brand} {LINES[line]} {model} {kind}"
        fields = {
            "name": name, "short": f"{LINES[line]} {model}", "brand": brand, "part": part,
            # how a question in other words names it: no model code, another word for it
            "alias": f"{brand} {LINES[line]} {alias}",
            "town": rng.choice(TOWNS), "person": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "code": f"{brand[:2].upper()}{model[:2]}-{codes[i]}-{chr(65 + rng.randrange(26))}",
            "weight": f"{rng.randint(2, 240) / 10:.1f}", "year": str(rng.randint(1994, 2031)),
            "material": rng.choice(MATERIALS), "colour": rng.choice(COLOURS),
            "n": str(rng.randint(2, 14)), "town2": rng.choice(TOWNS),
            "other": f"{rng.choice(BRANDS)} {rng.choice(LINES)} {kind}",
        }
        facts = {f: s.format(**fields) for f, (s, _, _) in FACTS.items()}
        order = list(facts.values())
        rng.shuffle(order)
        fillers = [t.format(**fields) for t in rng.sample(FILLERS, rng.randint(3, 6))]
        intro = (f"The {name} is a {kind} from {brand}, sold under its {LINES[line]} line "
                 f"since the model {model} replaced an older design.")
        first, second = [intro, *order[:3], *fillers[:2]], [*order[3:], *fillers[2:]]
        text = " ".join(first) + "\n\n" + " ".join(second)
        path = directory / f"doc-{i:05d}.md"
        doc_id = document_id(path)
        documents.append(Document(
            doc_id=doc_id, title=name,
            url=f"https://docs.example.com/synthetic/{i:05d}", text=text, path=path.resolve()))
        about.append(Synthetic(doc_id, name, facts, fields))
    return documents, about


def synthetic_queries(about: list[Synthetic], n: int,
                      seed: int = 19) -> list[tuple[str, str, bool]]:
    """(question, doc_id, worded like the document?) — every other one in other words."""
    rng = random.Random(seed)
    targets = rng.sample(range(len(about)), min(n, len(about)))
    out = []
    for j, t in enumerate(targets):
        fact = rng.choice(list(FACTS))
        literal = j % 2 == 0
        template = FACTS[fact][1] if literal else FACTS[fact][2]
        out.append((template.format(**about[t].fields), about[t].doc_id, literal))
    return out


# ---------------------------------------------------------------------------------------------
# measurements


def pct(xs: list[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[max(0, min(len(s) - 1, math.ceil(q * len(s)) - 1))]


@dataclass
class Searched:
    ms: list[float] = field(default_factory=list)
    hit: list[bool] = field(default_factory=list)
    literal: list[bool] = field(default_factory=list)

    def recall(self, which: bool | None = None) -> float:
        got = [h for h, lit in zip(self.hit, self.literal) if which is None or lit == which]
        return sum(got) / len(got) if got else float("nan")


def run_searches(index: Any, queries: list[tuple[str, str, bool]]) -> Searched:
    index.search(queries[0][0], K)  # warm: the snapshot, the query analyser
    out = Searched()
    for query, doc_id, literal in queries:
        t0 = time.perf_counter()
        hits = index.search(query, K)
        out.ms.append((time.perf_counter() - t0) * 1000)
        out.hit.append(doc_id in {h.doc_id for h in hits[:K]})
        out.literal.append(literal)
    return out


def normal(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def load_questions() -> list[dict[str, Any]]:
    from vertexcompat.search import read_document

    out = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()
           if line.strip()]
    for q in out:
        document = read_document(CORPUS / q["doc"])
        q["doc_id"], q["url"] = document.doc_id, document.url
    return out


def clean_query(text: str) -> str:
    """The model's query: its first non-empty line, without a label or quotes."""
    line = next((s.strip() for s in text.splitlines() if s.strip()), "")
    for label in ("search query:", "query:"):
        if line.lower().startswith(label):
            line = line[len(label):].strip()
    return line.strip("`\"'“”*").strip()


@dataclass
class Answer:
    qid: str
    ms: float
    content: str
    annotations: list[tuple[str, int, int]]  # (url, start, end)
    prompt_tokens: int
    completion_tokens: int
    header: str | None

    def cited(self, url: str) -> bool:
        return any(u == url and 0 <= s < e <= len(self.content) and self.content[s:e].strip()
                   for u, s, e in self.annotations)

    def bad_offsets(self) -> list[tuple[str, int, int]]:
        return [a for a in self.annotations if not (0 <= a[1] < a[2] <= len(self.content))
                or not self.content[a[1]:a[2]].strip()]


def _annotation(a: Any) -> tuple[str, int, int]:
    if not isinstance(a, dict):
        a = a.model_dump()
    c = a.get("url_citation") or {}
    return str(c.get("url")), int(c.get("start_index", -1)), int(c.get("end_index", -1))


def ask(client: Any, q: dict[str, Any], *, grounded: bool, max_tokens: int) -> Answer:
    extra: dict[str, Any] = {"web_search_options": {}} if grounded else {}
    t0 = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        model=OUR_MODEL_ID, messages=[{"role": "user", "content": q["question"]}],
        temperature=0, max_tokens=max_tokens, seed=0, **extra)
    ms = (time.perf_counter() - t0) * 1000
    completion = raw.parse()
    message = completion.choices[0].message
    usage = completion.usage
    return Answer(q["id"], ms, message.content or "",
                  [_annotation(a) for a in (message.annotations or [])],
                  usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0,
                  raw.headers.get(HEADER))


def ask_streamed(client: Any, q: dict[str, Any], max_tokens: int) -> Answer:
    t0 = time.perf_counter()
    parts: list[str] = []
    annotations: list[tuple[str, int, int]] = []
    stream = client.chat.completions.create(
        model=OUR_MODEL_ID, messages=[{"role": "user", "content": q["question"]}],
        temperature=0, max_tokens=max_tokens, seed=0, web_search_options={}, stream=True)
    for chunk in stream:
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                parts.append(delta.content)
            extra = getattr(delta, "annotations", None) or (delta.model_extra or {}).get(
                "annotations")
            annotations.extend(_annotation(a) for a in extra or [])
    return Answer(q["id"], (time.perf_counter() - t0) * 1000, "".join(parts), annotations,
                  0, 0, None)


def write_query(client: Any, question: str) -> tuple[str, float]:
    t0 = time.perf_counter()
    completion = client.chat.completions.create(
        model=OUR_MODEL_ID, temperature=0, max_tokens=24, seed=0,
        messages=[{"role": "user", "content": QUERY_PROMPT.format(question=question)}])
    return completion.choices[0].message.content or "", (time.perf_counter() - t0) * 1000


def cut(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 1] + "…"


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--questions", type=int, default=20, help="end-to-end questions (of 30)")
    p.add_argument("--docs", type=int, default=10_000, help="synthetic documents to index")
    p.add_argument("--queries", type=int, default=200, help="search queries on them")
    p.add_argument("--ctx", type=int, default=4096, help="our --ctx-per-seq")
    p.add_argument("--json", nargs="?", const="-", metavar="FILE",
                   help="also dump results as JSON to FILE (or stdout with no FILE)")
    p.add_argument("--log-dir", type=Path, help="server log (default: a temp dir)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 8 docs, 4 queries, smollm2-135m-instruct, 1 question")
    args = p.parse_args(argv)
    if args.quick:
        args.model, args.docs, args.queries, args.questions = "smollm2-135m-instruct", 8, 4, 1
        args.ctx = 2048
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `with Server` still stops it
    t_start = time.monotonic()
    say = lambda msg: print(f"[bench {time.monotonic() - t_start:6.1f}s] {msg}",  # noqa: E731
                            file=sys.stderr, flush=True)

    import openai

    from vertexcompat.embeddings.minilm import TextEmbedder
    from vertexcompat.search import LocalIndex, read_document

    questions = load_questions()
    asked = questions[:max(1, min(args.questions, len(questions)))]
    written = asked[:min(20, len(asked))]
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="vertexcompat-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    load1 = os.getloadavg()[0]
    foreign = ForeignCpu()
    problems: list[str] = []
    summary: dict[str, Any] = {"model": args.model, "threads": args.threads, "docs": args.docs}

    with tempfile.TemporaryDirectory(prefix="vertexcompat-grounding-") as tmp:
        root = Path(tmp)
        # -- part 1 ------------------------------------------------------------------------
        foreign.start()
        documents, about = synthetic_documents(args.docs, root / "synthetic")
        words = [len(d.text.split()) for d in documents]
        embedder = TextEmbedder(threads=args.threads)
        embedder.warm()
        builds: dict[str, tuple[float, Any]] = {}
        for label, emb in (("hybrid (BM25 + MiniLM)", embedder), ("BM25 only", None)):
            index = LocalIndex(root / label.split()[0].lower(), embedder=emb)
            t0 = time.perf_counter()
            index.add(documents)
            builds[label] = (time.perf_counter() - t0, index)
            say(f"built {label}: {builds[label][0]:.1f}s")
        passages = sum(d.passages for d in builds["BM25 only"][1].documents())
        foreign.stop("build")
        print(f"Part 1: index build, {args.docs} synthetic documents ({min(words)}-{max(words)} "
              f"words, {passages} passages), MiniLM threads {args.threads}, model load excluded")
        print_rows(("index", "build s", "documents/s", "passages/s"),
                   [(label, f"{s:.2f}", f"{args.docs / s:.0f}", f"{passages / s:.0f}")
                    for label, (s, _) in builds.items()])

        # -- part 2 ------------------------------------------------------------------------
        queries = synthetic_queries(about, args.queries)
        searched = {label: run_searches(index, queries) for label, (_, index) in builds.items()}
        corpus = LocalIndex(root / "corpus", embedder=embedder)
        corpus.add([read_document(path) for path in sorted(CORPUS.glob("*.md"))])
        by_question = [(q["question"], q["doc_id"], True) for q in questions]
        searched_corpus = run_searches(corpus, by_question)
        print(f"Part 2: search, k={K}; {len(queries)} questions on the {args.docs} documents "
              f"(half worded like the document, half in other words), "
              f"{len(questions)} on the test corpus ({len(list(CORPUS.glob('*.md')))} documents)")
        rows = [(f"{label}, {args.docs} docs", f"{med(s.ms):.2f}", f"{pct(s.ms, 0.99):.2f}",
                 f"{s.recall():.3f}", f"{s.recall(True):.3f}", f"{s.recall(False):.3f}")
                for label, s in searched.items()]
        rows.append(("hybrid, test corpus (the server's)", f"{med(searched_corpus.ms):.2f}",
                     f"{pct(searched_corpus.ms, 0.99):.2f}", f"{searched_corpus.recall():.3f}",
                     "-", "-"))
        print_rows(("index", "p50 ms", "p99 ms", "recall@3", "same words", "other words"), rows)
        hybrid = searched["hybrid (BM25 + MiniLM)"]
        summary["build_s"] = {label: round(s, 3) for label, (s, _) in builds.items()}
        summary["search"] = {label: {"p50_ms": med(s.ms), "p99_ms": pct(s.ms, 0.99),
                                     "recall_at_3": s.recall(), "recall_same_words": s.recall(True),
                                     "recall_other_words": s.recall(False)}
                             for label, s in searched.items()}
        summary["search"]["test corpus"] = {"p50_ms": med(searched_corpus.ms),
                                            "p99_ms": pct(searched_corpus.ms, 0.99),
                                            "recall_at_3": searched_corpus.recall()}
        builds.clear()

        # -- parts 3 and 4: the server ---------------------------------------------------------
        port = free_port()
        server = Server(
            "vertexcompat",
            [sys.executable, "-m", "vertexcompat", "serve", "--no-auth", "--host", "127.0.0.1",
             "--port", str(port), "--model", args.model, "--threads", str(args.threads),
             "--parallel", "2", "--ctx-per-seq", str(args.ctx),
             # No prefix reuse when timing grounded against plain requests. --quick times
             # nothing: its streamed request reuses the grounded prompt (~230 tokens) the
             # whole one read (the answers are the same either way, tests/unit/engine).
             *([] if args.quick else ["--no-prefix-cache"]),
             "--log-level", "warning"],
            "/readyz", port, log_dir / "vertexcompat.log",
            env={**os.environ, "VERTEXCOMPAT_SEARCH_INDEX_DIR": str(root / "corpus"),
                 # --quick: one passage in the grounded prompt, not the default 3 (~230
                 # prompt tokens instead of ~440)
                 **({"VERTEXCOMPAT_GROUNDING_PASSAGES": "1"} if args.quick else {})},
        )
        say(f"server: model {args.model}, threads {args.threads}, log in {log_dir}")
        with server:
            foreign.start()
            client = openai.OpenAI(base_url=f"{server.base}/v1", api_key="bench",
                                   max_retries=0, timeout=600)
            # Warm-up: the model, and the server's MiniLM (search and attribution); not in
            # --quick: it times nothing that matters, and its first requests do the same work.
            if not args.quick:
                ask(client, questions[-1], grounded=False, max_tokens=4)
                ask(client, questions[-1], grounded=True, max_tokens=4)
            say("warm")
            # part 3
            query_rows, query_ms, query_hit, raw_hit = [], [], [], []
            for q in written:
                text, ms = write_query(client, q["question"])
                query = clean_query(text)
                hit = q["doc_id"] in {h.doc_id for h in corpus.search(query, K)} if query else False
                raw = q["doc_id"] in {h.doc_id for h in corpus.search(q["question"], K)}
                query_ms.append(ms)
                query_hit.append(hit)
                raw_hit.append(raw)
                query_rows.append((q["id"], "ok" if raw else "miss", "ok" if hit else "miss",
                                   f"{ms:.0f}", cut(query, 60) or "(empty)"))
            say(f"part 3: {len(written)} queries written")
            # part 4: interleaved, grounded first on even questions, plain first on odd ones
            grounded: list[Answer] = []
            plain: list[Answer] = []
            grounded1: list[Answer] = []
            plain1: list[Answer] = []
            for i, q in enumerate(asked):
                # max_tokens 1 isolates the lookup and the longer prompt (not in --quick)
                lengths = (128,) if args.quick else (128, 1)
                order = [(g, n) for n in lengths for g in ((True, False), (False, True))[i % 2]]
                for g, n in order:
                    answer = ask(client, q, grounded=g, max_tokens=n)
                    {(True, 128): grounded, (False, 128): plain, (True, 1): grounded1,
                     (False, 1): plain1}[(g, n)].append(answer)
                say(f"{q['id']}: grounded {grounded[-1].ms:.0f} ms, plain {plain[-1].ms:.0f} ms")
            streamed = ask_streamed(client, asked[0], 128)
        foreign.stop("server")  # after `with server` has reaped it: its CPU is ours

    fc = max(foreign.phases.values())
    print(f"  other processes' CPU use (cores): build {foreign.phases['build']:.2f}, server "
          f"{foreign.phases['server']:.2f}; load avg at start {load1:.2f}"
          + ("   <-- NOT A QUIET MACHINE: timings unreliable" if fc > 0.1 else "   (quiet)"))
    print()

    # -- report parts 3 and 4 ----------------------------------------------------------------
    written_ms = med(query_ms)
    print(f"Part 3: query choice, {len(written)} questions, model {args.model} "
          f"(max_tokens 24, temperature 0), recall@{K} on the test corpus index")
    print_rows(("id", "raw question", "written query", "ms to write", "query"), query_rows)
    raw_recall = sum(raw_hit) / len(raw_hit)
    query_recall = sum(query_hit) / len(query_hit)
    print_rows(("search with", f"recall@{K}", "ms added per request (median)"),
               [("the user's last message (the server's choice)", f"{raw_recall:.3f}", "+0"),
                ("a query the model writes", f"{query_recall:.3f}", f"+{written_ms:.0f}")])
    summary["query_choice"] = {"questions": len(written), "recall_raw": raw_recall,
                               "recall_written": query_recall, "written_ms_p50": written_ms}

    expected = {q["id"]: q for q in asked}
    rows = []
    fact_ok = cite_ok = both = 0
    for a in grounded:
        q = expected[a.qid]
        fact = normal(q["answer"]) in normal(a.content)
        cited = a.cited(q["url"])
        fact_ok += fact
        cite_ok += cited
        both += fact and cited
        urls = sorted({u.rsplit("/", 1)[-1] for u, _, _ in a.annotations})
        rows.append((a.qid, "ok" if fact else "fail", "ok" if cited else "fail",
                     ", ".join(urls) or "-", cut(a.content, 60)))
        if a.header:
            problems.append(f"{a.qid}: answered ungrounded ({HEADER}: {a.header})")
        for bad in a.bad_offsets():
            problems.append(f"{a.qid}: annotation {bad} outside or empty in content of "
                            f"{len(a.content)} characters")
    for a in plain:
        if a.annotations:
            problems.append(f"{a.qid}: an ungrounded answer has annotations {a.annotations}")
    n = len(grounded)
    print(f"Part 4: end to end, {n} questions, model {args.model}, threads {args.threads}, "
          "temperature 0, max_tokens 128, web_search_options={}")
    print_rows(("id", "fact", "citation", "cited (url tail)", "answer"), rows)
    lookup = med(searched_corpus.ms)

    def median(answers: list[Answer], what: str) -> float:
        return med([float(getattr(a, what)) for a in answers])

    overhead = median(grounded, "ms") - median(plain, "ms")
    overhead1 = median(grounded1, "ms") - median(plain1, "ms")
    verdict = "PASS" if both / n >= TARGET_SHARE else "MISS"
    print_rows(("result", "count", "target"),
               [("right fact", f"{fact_ok}/{n}", "-"),
                ("right citation", f"{cite_ok}/{n}", "-"),
                ("right fact with the right citation", f"{both}/{n} ({both / n:.0%})",
                 f">= {TARGET_SHARE:.0%} {verdict}")])
    one_token = ((f"{median(grounded1, 'ms'):.0f}", f"{median(plain1, 'ms'):.0f}",
                  f"{overhead1:+.0f}") if grounded1 else ("-", "-", "(not in --quick)"))
    added_tokens = median(grounded, "prompt_tokens") - median(plain, "prompt_tokens")
    print_rows(("per request", "grounded", "ungrounded", "overhead"),
               [("median ms, max_tokens 128", f"{median(grounded, 'ms'):.0f}",
                 f"{median(plain, 'ms'):.0f}", f"{overhead:+.0f}"),
                ("total s, max_tokens 128", f"{sum(a.ms for a in grounded) / 1000:.1f}",
                 f"{sum(a.ms for a in plain) / 1000:.1f}", "-"),
                ("median completion tokens", f"{median(grounded, 'completion_tokens'):.0f}",
                 f"{median(plain, 'completion_tokens'):.0f}", "-"),
                ("median prompt tokens", f"{median(grounded, 'prompt_tokens'):.0f}",
                 f"{median(plain, 'prompt_tokens'):.0f}", f"{added_tokens:+.0f}"),
                ("median ms, max_tokens 1", *one_token),
                ("search lookup alone (part 2, p50)", f"{lookup:.2f}", "-", f"+{lookup:.2f}")])
    ref = grounded[0]
    same = (streamed.content == ref.content
            and sorted(streamed.annotations) == sorted(ref.annotations))
    print(f"streamed {ref.qid}: {len(streamed.annotations)} annotations on the stream, "
          f"{len(ref.annotations)} in the whole response; "
          + ("same text and annotations" if same else "DIFFERENT from the whole response"))
    for bad in streamed.bad_offsets():
        problems.append(f"{streamed.qid} streamed: annotation {bad} outside or empty in content "
                        f"of {len(streamed.content)} characters")
    if not same and streamed.content == ref.content:
        problems.append(f"{ref.qid}: the same text streamed has annotations "
                        f"{streamed.annotations}, whole {ref.annotations}")
    summary["end_to_end"] = {
        "questions": n, "right_fact": fact_ok, "right_citation": cite_ok, "both": both,
        "median_ms_grounded": median(grounded, "ms"),
        "median_ms_ungrounded": median(plain, "ms"), "overhead_ms": overhead,
        "overhead_ms_1_token": overhead1, "lookup_ms_p50": lookup, "streamed_same": same,
        "answers": [a.__dict__ for a in grounded],
    }
    summary["foreign_cpu_cores"] = foreign.phases
    summary["problems"] = problems
    for problem in problems:
        print("FAIL:", problem)
    if args.json:
        text = json.dumps(summary, indent=2, default=str, ensure_ascii=False)
        if args.json == "-":
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    hybrid_build = summary["build_s"]["hybrid (BM25 + MiniLM)"]
    print(f"grounding bench done: build {hybrid_build:.1f} s ({args.docs} docs), search p50 "
          f"{med(hybrid.ms):.2f} ms p99 {pct(hybrid.ms, 0.99):.2f} ms, answered {both}/{n} "
          f"with citation, overhead {overhead:+.0f} ms per request")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
