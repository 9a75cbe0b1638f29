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

import funnelkit


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
autodoc_class_signature = "separated"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # attrs attributes stay in their class's docstring, listed once
napoleon_use_rtype = False
napoleon_custom_sections = [("Members", "params_style")]  # an enum's members, like Args

html_theme = "furo"
html_title = f"funnelkit {release}"
