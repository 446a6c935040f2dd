"""Streamlit + Plotly dashboard over the lake's gold, quality and run tables (read-only, no JVM)."""
