"""Page-facing tables and maps without Streamlit: the user explorer's tables, the model card, the
embedding map's projection and its side tables. The app renders them; tests check them directly."""
