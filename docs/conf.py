"""
Sphinx configuration of funnelkit's documentation site.

Build it with ``python3 dev.py docs`` (warnings are errors); the pages are Markdown read by
MyST, the API reference comes from the docstrings (Google style, read by napoleon).
The code blocks of every page run in the test suite (Sybil), not here.

Why Sphinx rather than MkDocs: autodoc reads the docstrings funnelkit already has (Google
style, cross-references in backticks) without a second parser, MyST keeps the guides in the
Markdown that GitHub shows and Sybil runs, and ``-W`` makes any broken include, toctree or
docstring markup fail CI. MkDocs would need a plugin (mkdocstrings) and its own docstring
parser for the same reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import funnelkit


if TYPE_CHECKING:
    from docutils.nodes import Element, TextElement
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment
    from sphinx.pycode import ModuleAnalyzer


project = "funnelkit"
author = "The funnelkit developers"
copyright = "2026, the funnelkit developers"  # noqa: A001 - Sphinx's setting name
release = funnelkit.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

default_role = "py:obj"  # `Name` in a docstring links to its reference when there is one
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"  # the signature on the class: no __init__ or __new__ entries
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # attrs attributes stay in their class's docstring, listed once
napoleon_use_rtype = False
napoleon_custom_sections = [("Members", "params_style")]  # an enum's members, like Args

html_theme = "furo"
html_title = f"funnelkit {release}"

nitpicky = True  # every reference must resolve; python3 dev.py docs fails on one that does not

# Links to other projects need intersphinx, which fetches their inventories over the network;
# the build runs offline (CI has no route to docs.python.org), so names from the standard
# library and the dependencies stay unlinked text. Nothing of funnelkit's is ignored here.
nitpick_ignore_regex = [
    (r"py:.*", r"(datetime|decimal|enum|collections\.abc|typing|types|zoneinfo)(\..*)?"),
    (r"py:.*", r"(date|datetime|time|timedelta|tzinfo|timezone|Decimal|Enum|Callable|Mapping)"),
    (r"py:.*", r"(Iterable|Iterator|Sequence|Generator|Any|Self|TypeAlias|NoReturn|Path)"),
    (r"py:.*", r"(hypothesis|cattrs|transitions|sqlalchemy|sa|attrs|alembic|pytest)(\..*)?"),
    (r"py:.*", r"(numpy|np|npt|narwhals)(\..*)?"),
    (r"py:.*", r"(SearchStrategy|st\.SearchStrategy|DataObject|Settings|DrawFn)"),
    (r"py:.*", r"(Machine|MarkupMachine|EventData|Engine|Connection|Config|RuleBasedStateMachine)"),
    (r"py:.*", r"[A-Z]"),  # a type variable (E, T, R)
]


def _resolve_short_names(
    app: Sphinx, env: BuildEnvironment, node: Element, contnode: TextElement
) -> Element | None:
    """
    Resolve a short name the way a reader of the docstring means it.

    Docstrings write `ConflictError` or `Funnel.open_next` for funnelkit's objects; this finds
    the one documented object whose full name ends with it. Google-style docstrings also put
    parameters and attributes in single backticks (`as_of`, `pipeline`): a lower-case name
    that names no object is shown as code, not as a broken link.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    domain = env.get_domain("py")
    found = [
        (name, obj)
        for name, obj in domain.objects.items()
        if name == target or name.endswith("." + target)
    ]
    public = [(name, obj) for name, obj in found if "._" not in name]
    chosen = public or found
    if not chosen and "." in target:  # an attribute or enum member: link to its class
        owner = target.rsplit(".", 1)[0]
        chosen = [
            (name, obj)
            for name, obj in domain.objects.items()
            if (name == owner or name.endswith("." + owner)) and "._" not in name
        ]
    if len(chosen) == 1:
        name, obj = chosen[0]
        from sphinx.util.nodes import make_refnode  # noqa: PLC0415 - Sphinx is loaded here

        return make_refnode(app.builder, node["refdoc"], obj.docname, obj.node_id, contnode, name)
    head = target.split(".")[0]
    if head[:1].islower() or head.startswith("_"):
        return contnode  # a parameter, an attribute or a private name: code, not a link
    return None


def _public_bases(
    _app: Sphinx, _name: str, _obj: object, _options: object, bases: list[Any]
) -> None:
    """Show public bases only: a private base class (``_Event``) is an implementation detail."""
    bases[:] = [base for base in bases if not getattr(base, "__name__", "").startswith("_")]


def _with_reexported_docs() -> None:
    """
    Let a public module document the constants and type aliases it re-exports.

    ``funnelkit.events.Event`` is written (with its docstring) in a private module and
    re-exported; autodoc looks for the docstring of a module's data in that module's own source,
    so it would skip it. This gives each funnelkit module the docstrings of the data its
    ``__all__`` re-exports, read from the source of the module that defines them.
    """
    import importlib  # noqa: PLC0415 - only for the build
    import pkgutil  # noqa: PLC0415

    from sphinx.pycode import ModuleAnalyzer  # noqa: PLC0415

    written: dict[str, tuple[str, list[str]]] = {}
    for info in pkgutil.walk_packages(funnelkit.__path__, "funnelkit."):
        if "migrations" in info.name:
            continue
        for (owner, name), lines in ModuleAnalyzer.for_module(info.name).find_attr_docs().items():
            if owner == "":
                written.setdefault(name, (info.name, lines))
    original = ModuleAnalyzer.analyze

    def analyze(self: ModuleAnalyzer) -> None:
        original(self)
        if self.modname.startswith("funnelkit"):
            exported = getattr(importlib.import_module(self.modname), "__all__", ())
            for name in exported:
                if ("", name) not in self.attr_docs and name in written:
                    self.attr_docs["", name] = written[name][1]
                    self.tagorder.setdefault(name, len(self.tagorder))

    ModuleAnalyzer.analyze = analyze  # type: ignore[method-assign]


def setup(app: Sphinx) -> None:
    """Connect the reference resolver and the bases filter."""
    _with_reexported_docs()
    app.connect("missing-reference", _resolve_short_names)
    app.connect("autodoc-process-bases", _public_bases)
