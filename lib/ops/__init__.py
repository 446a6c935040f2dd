"""Operations on a built lake: quarantine replay, reproducing a run, the data dictionary."""
