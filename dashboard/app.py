"""The app's script. `make run` serves it through dashboard/server.py, which loads the dataset
and prepares the pages as the server starts; `streamlit run dashboard/app.py` serves it as it is,
doing that work for the first visitor.

The shell: page config, the dataset picker and global filters in the sidebar (bound to the URL,
so a copied link reopens the same view on any page), and st.navigation over the eight pages.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a plain checkout
    sys.path.insert(0, str(ROOT))

from dashboard.preload import heavy_modules  # noqa: E402

heavy_modules()  # before any page: the first visitors after a start must not import them concurrently

import streamlit as st  # noqa: E402

from dashboard import access, charts, data, filters, page_list, shell  # noqa: E402
from dashboard.components import dataset_picker, report_panel, share_panel  # noqa: E402

st.set_page_config(page_title="CRM analytics", page_icon="📊", layout="wide")
if "_link_checked" not in st.session_state:
    filters.cap_link()  # before anything reads the link
visitor = access.gate()  # stops here with the sign-in form when sign-in is needed

PAGES_DIR = ROOT / "pages"
PAGES = [
    # the Overview is served at "/"; the path it reserves is not "overview", so that path can be
    # the alias below
    st.Page(PAGES_DIR / f"{p.name}.py", title=p.title, icon=p.icon, url_path=p.url_path or "home", default=not p.url_path)
    for p in page_list.PAGES
]

# "/" opens the Overview; so does "/overview", the path a user (or a shared link) may well type:
# Streamlit serves the default page at "/" only, so the Overview has a second, unlisted entry.
OVERVIEW_ALIAS = st.Page(PAGES_DIR / "overview.py", title="Overview", icon="📊", url_path="overview")
navigation = st.navigation(PAGES + [OVERVIEW_ALIAS], position="hidden")
with st.sidebar:
    for listed in PAGES:
        st.page_link(listed)
access.sidebar(visitor)
dataset_picker.show()
st.session_state[shell.FILTERS_KEY] = filters.show()
share_panel.show(visitor)
try:
    with charts.collecting() as figures:
        navigation.run()
    report_panel.show(navigation.title, figures)
finally:
    # after the page: a dataset loaded by this run gets its other pages and churn model ready now
    data.prepare_loaded_datasets(st.session_state.get(shell.FILTERS_KEY))
