"""A custom Great Expectations expectation: id numbers pass the GB 11643 check digit.

Import this module before loading a suite that uses
``expect_column_values_to_be_valid_cn_id_number``; importing registers it.
"""

from __future__ import annotations

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial

from halfsky.contract import id_numbers
class ColumnValuesValidCnIdNumber(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_cn_id_number"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return column.map(id_numbers.is_valid)


class ExpectColumnValuesToBeValidCnIdNumber(ColumnMapExpectation):
    """Each value is an 18-character resident id number (GB 11643-1999) with a real birth date and a correct check digit."""

    map_metric = "column_values.valid_cn_id_number"
    success_keys = ("mostly",)
