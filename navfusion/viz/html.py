"""A self-contained HTML report: tables, figures (embedded as data URIs and linked), config and environment.

The page opens from disk without a server; every link is relative and points at a file in the
report folder (``missing_references`` checks that).
"""

from __future__ import annotations

import base64
import contextlib
import html
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from navfusion import __version__
from navfusion.io import atomic_write_text

_MAX_EMBED = 6 * 1024 * 1024


@dataclass
class Section:
    """One report section: a heading, then blocks in order.

    Blocks are tuples: ``("p", text)``, ``("table", header, rows)``, ``("img", relpath, caption)``,
    ``("pre", text)``, ``("html", raw)``.
    """

    title: str
    blocks: list[tuple] = field(default_factory=list)

    def p(self, text: str) -> Section:
        self.blocks.append(("p", text))
        return self

    def table(self, header: list[str], rows: list[list]) -> Section:
        self.blocks.append(("table", header, rows))
        return self

    def img(self, relpath: str, caption: str = "") -> Section:
        self.blocks.append(("img", relpath, caption))
        return self

    def note(self, text: str) -> Section:
        self.blocks.append(("note", text))
        return self

    def links(self, items: list[tuple[str, str]]) -> Section:
        """A list of links ``(text, relpath)``; missing files are listed without a link."""
        self.blocks.append(("links", items))
        return self

    def pre(self, text: str) -> Section:
        self.blocks.append(("pre", text))
        return self


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td{white-space:nowrap}td:first-child,th:first-child{text-align:left}img{max-width:100%}
pre{background:#f7f7f7;padding:8px;overflow:auto;max-height:40em;white-space:pre-wrap;font-size:12px}
figure{margin:1em 0}
figcaption{font-size:13px;color:#555}.note{background:#fff6d5;padding:6px 10px;border-left:4px solid #e0b000}"""


def _data_uri(path: Path) -> str | None:
    if not path.is_file() or path.stat().st_size > _MAX_EMBED:
        return None
    mime = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".svg": "image/svg+xml"}.get(
        path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode()


def render_html(title: str, sections: list[Section], root: str | os.PathLike) -> str:
    """The page as a string; ``root`` is the report folder (image paths are relative to it)."""
    root = Path(root)
    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
           f"<style>{_CSS}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
    for s in sections:
        out.append(f"<h2>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            kind = b[0]
            if kind == "p":
                out.append(f"<p>{html.escape(b[1])}</p>")
            elif kind == "note":
                out.append(f"<p class='note'>{html.escape(b[1])}</p>")
            elif kind == "pre":
                out.append(f"<pre>{html.escape(b[1])}</pre>")
            elif kind == "links":
                items = []
                for text, rel in b[1]:
                    if (root / rel).is_file():
                        items.append(f"<li><a href='{html.escape(rel)}'>{html.escape(text)}</a></li>")
                    else:
                        items.append(f"<li>{html.escape(text)}</li>")
                out.append("<ul>" + "".join(items) + "</ul>")
            elif kind == "html":
                out.append(b[1])
            elif kind == "table":
                out.append("<table><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in b[1]) + "</tr>")
                for r in b[2]:
                    out.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>")
                out.append("</table>")
            elif kind == "img":
                rel, cap = b[1], b[2]
                p = root / rel
                if not p.is_file():
                    out.append(f"<p><em>(figure {html.escape(rel)} was not produced)</em></p>")
                    continue
                src = _data_uri(p) or rel
                out.append(f"<figure><a href='{html.escape(rel)}'><img src='{src}' alt='{html.escape(rel)}'></a>"
                           f"<figcaption>{html.escape(cap)}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_html(path: str | os.PathLike, title: str, sections: list[Section]) -> Path:
    """Render and write the report atomically; returns its path."""
    path = Path(path)
    atomic_write_text(path, render_html(title, sections, path.parent))
    return path


_REF = re.compile(r"""(?:href|src)=['"]([^'"]+)['"]""")


def referenced_files(page: str) -> list[str]:
    """Relative file references of a page (data URIs, anchors and absolute URLs excluded)."""
    refs = []
    for r in _REF.findall(page):
        if r.startswith(("data:", "#", "http:", "https:", "mailto:")):
            continue
        refs.append(r)
    return refs


def missing_references(path: str | os.PathLike) -> list[str]:
    """References of the page at ``path`` whose files do not exist (should be empty)."""
    path = Path(path)
    page = path.read_text(encoding="utf-8")
    return [r for r in referenced_files(page) if not (path.parent / r).is_file()]


def environment_info() -> dict[str, str]:
    """Versions and hardware for the report."""
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "machine": platform.machine(), "cpu_count": str(os.cpu_count()), "navfusion": __version__}
    for mod in ("numpy", "torch", "gymnasium", "matplotlib", "stable-baselines3"):
        # Package metadata, not imports: importing torch just to print its version costs seconds.
        # A dependency importable without its metadata (e.g. put on the path by hand) goes unlisted.
        with contextlib.suppress(metadata.PackageNotFoundError):
            info[mod] = metadata.version(mod)
    try:
        cpu = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
        if cpu:
            info["cpu"] = cpu[0].split(":", 1)[1].strip()
    except OSError:
        pass
    try:
        torch = sys.modules.get("torch")
        if torch is None:
            return info
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        info["torch_threads"] = str(torch.get_num_threads())
    except (RuntimeError, AssertionError):  # CUDA is optional hardware: a broken driver only drops these lines
        pass
    return info
