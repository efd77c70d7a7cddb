"""Validation rules: record-level rules (validate_records) and file-level content checks (check_content)."""

from exchange.core.rules.content import check_content
from exchange.core.rules.records import LOT, XML, RecordCheck, validate_records

__all__ = ["LOT", "XML", "RecordCheck", "check_content", "validate_records"]
