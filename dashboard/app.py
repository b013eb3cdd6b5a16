"""Entry point: streamlit run dashboard/app.py"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` from a plain checkout
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard.components import dataset_picker  # noqa: E402

st.set_page_config(page_title="CRM analytics", page_icon="📊", layout="wide")

PAGES = [
    st.Page(ROOT / "pages" / "data.py", title="Data", icon="🗂️", url_path="data", default=True),
]

navigation = st.navigation(PAGES)
dataset_picker.show()
navigation.run()
