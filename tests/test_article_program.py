"""The source article's Keras program, run on mlmath with only its import lines changed."""

from __future__ import annotations

import math
import re
import runpy
from pathlib import Path

import numpy as np

PROGRAM = Path(__file__).with_name("article_program.py")


def test_article_program_runs_unchanged(capsys):
    # The program draws its data from numpy's global generator; seeding it here keeps this
    # test's data fixed. (mlmath itself never touches the global generator: the initial
    # weights come from fresh entropy, so the numbers below vary a little from run to run.)
    np.random.seed(0)  # noqa: NPY002
    namespace = runpy.run_path(str(PROGRAM))
    out = capsys.readouterr().out

    history = namespace["model"].history.history
    assert list(history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(values) == 50 for values in history.values())

    loss, accuracy = namespace["loss"], namespace["accuracy"]
    assert math.isfinite(loss)
    assert 0.0 <= accuracy <= 1.0

    predictions = namespace["predictions"]
    assert predictions.shape == (5, 3)
    assert np.all(predictions >= 0)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-12)

    assert re.search(r"^Epoch 1/50 - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: ", out, re.MULTILINE)
    assert re.search(r"^Epoch 50/50 - ", out, re.MULTILINE)
    assert re.search(rf"^Loss: {re.escape(str(loss))}, Accuracy: {re.escape(str(accuracy))}$", out, re.MULTILINE)
    assert re.search(r"^Predictions: \[\[", out, re.MULTILINE)

    # the labels are random, so the only thing to learn is the training rows themselves:
    # accuracy on them rises well above chance (1/3) as the network memorizes them
    assert history["accuracy"][-1] > history["accuracy"][0] + 0.1
    assert history["loss"][-1] < history["loss"][0]
