"""Text from outside the code — URL parameters, job names, record fields, error messages — shown
as what it is, never as markup.

* :func:`plain` for Streamlit's markdown elements (``st.markdown``, ``st.caption``, ``st.warning``,
  ``st.error``, ``st.info``, ``st.success``): every ASCII punctuation character is backslash-escaped,
  which CommonMark defines as "this character, literally". A crafted ``?job=`` cannot draw a link,
  an image, HTML, a heading, a colour directive or math.
* :func:`chart` for Plotly (trace names, titles, tick and hover labels), which renders a subset of
  HTML (``<a href>``, ``<b>``, ``<br>``): ``&``, ``<`` and ``>`` become entities, which Plotly shows
  as the characters themselves.

Neither imports Streamlit or Plotly, so the figure builders stay pure.
"""

from __future__ import annotations

import re
import string

_MARKDOWN_SPECIAL = re.compile("([" + re.escape(string.punctuation) + "])")


def plain(text: object) -> str:
    """``str(text)`` with every ASCII punctuation character backslash-escaped: markdown shows it
    literally (links, images, HTML, emphasis, code spans, lists and headings all stay text)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def chart(text: object) -> str:
    """``str(text)`` with ``&``, ``<`` and ``>`` as HTML entities: Plotly shows the characters
    instead of interpreting a tag (a link, bold, a line break)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
