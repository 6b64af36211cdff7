"""`infersim validate`: predicted vs measured, for published figures and measurement files.

`scorecard()` scores every case (`cases.py` reads them, `score.py` predicts them), `report.py` renders
the tables and docs/validation.md.
"""

from infersim.validate.score import Result, Scorecard, score_measured_file, scorecard

__all__ = ["Result", "Scorecard", "score_measured_file", "scorecard"]
