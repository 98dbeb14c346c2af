import pandas as pd
import pytest

from topictag import DataError, add_tags


def test_add_tags_adds_columns_and_keeps_the_frame(tiny_model):
    frame = pd.DataFrame({"id": [1, 2, 3], "body": ["Tariffs on steel imports", "Storm cuts power", None]})
    tagged = add_tags(frame, text_col="body", model=tiny_model)
    assert list(tagged["top"]) == ["trade", "other", "other"]
    assert tagged["tags"][0] == ["trade"] and tagged["tags"][1] == []
    assert {f"score_{label}" for label in tiny_model.topics_} <= set(tagged.columns)
    assert list(frame.columns) == ["id", "body"]


def test_add_tags_names_the_missing_column(tiny_model):
    with pytest.raises(DataError, match="no text column 'text'; columns found: body"):
        add_tags(pd.DataFrame({"body": ["x"]}), model=tiny_model)


@pytest.mark.parametrize("dtype", ["string", "string[pyarrow]", "object"])
def test_add_tags_accepts_missing_values_of_every_dtype(tiny_model, dtype):
    frame = pd.DataFrame({"text": pd.array(["Tariffs on steel imports", None], dtype=dtype)})
    assert list(add_tags(frame, model=tiny_model)["top"]) == ["trade", "other"]
